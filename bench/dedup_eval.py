"""Dedup evaluation on a labeled set built at run time from ../shared/corpus/news-pages.

Positives are copies of real articles transformed as syndication does (other template and
boilerplate with a new headline, a prepended editor's note, truncation to 50-80 %, the first
paragraph dropped, the middle third only, two articles concatenated, light edits). Negatives are
the other real articles (all 180 for each page, same-subject pairs included) and the five
seeds against each other. Runs the real dedup (pipeline.dedup.index with the default model) and
prints precision, recall and the confusion of each transformation kind.

    .venv/bin/python bench/dedup_eval.py [--pages 60] [--seed 7] [--backend torch]

Embeddings are cached in bench/out/ (by text hash and backend) so threshold experiments rerun fast.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.config.settings import load_settings
from pipeline.dedup.index import DedupIndex
from pipeline.models import DedupDecision, DedupDoc
from pipeline.tag.seeds import load_seeds
from pipeline.testkit.corpus import load_pages
from pipeline.testkit.embedcache import BACKENDS, bench_embedder, embed_cached
from pipeline.textnorm import content_hash

ROOT = Path(__file__).resolve().parents[1]

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"
NOW = datetime(2026, 11, 23, tzinfo=UTC)

NAV = "Home | World | Politics | Business | Tech | Science | Opinion | Sport | Video"
FOOTER = (
    "Sign up for our daily newsletter and get the top stories in your inbox.\n"
    "Related: Markets close higher as investors weigh inflation data.\n"
    "© 2026 Example Media Group. All rights reserved. Terms of use | Privacy policy"
)
NOTE = (
    "Editor's note: this story was first published by a partner outlet and is republished "
    "here with permission. It has been lightly edited for length and clarity."
)
SWAPS = {
    "said": "stated",
    "says": "states",
    "also": "as well",
    "however": "but",
    "because": "since",
    "after": "following",
    "before": "ahead of",
    "big": "large",
    "new": "fresh",
    "show": "indicate",
    "shows": "indicates",
    "help": "assist",
}


def paragraphs(text: str) -> list[str]:
    parts = [p for p in re.split(r"\n+", text) if p.strip()]
    if len(parts) < 3:
        parts = re.split(r"(?<=[.!?])\s+", text)
    return parts


def transforms(text: str, other: str, rng: random.Random) -> dict[str, str]:
    """The syndication-like copies of one article."""
    words = text.split()
    paras = paragraphs(text)
    keep = rng.uniform(0.5, 0.8)
    edited = []
    for w in words:
        low = w.lower()
        if low in SWAPS and rng.random() < 0.7:
            w = SWAPS[low]
        elif re.fullmatch(r"\d+", w) and rng.random() < 0.5:
            w = str(int(w) + 1)
        elif rng.random() < 0.02:
            w = w[:-1] if len(w) > 3 else w
        edited.append(w)
    third = len(words) // 3
    return {
        "boilerplate_new_headline": f"{NAV}\nBREAKING: {' '.join(words[:8]).title()}\n{text}\n"
        f"{FOOTER}",
        "prepended_note": f"{NOTE}\n\n{text}",
        "truncated_50_80": " ".join(words[: max(20, int(len(words) * keep))]),
        "first_paragraph_dropped": "\n".join(paras[1:]) if len(paras) > 1 else text,
        "middle_third": " ".join(words[third : 2 * third]),
        "two_concatenated": f"{text}\n\n{other}",
        "light_edits": " ".join(edited),
    }


def doc(i: int, text: str, vec, chunks, seed: bool = False) -> DedupDoc:
    return DedupDoc(
        id=i,
        text=text,
        content_hash=content_hash(text),
        lang="en",
        published_at=NOW,
        vector=vec,
        chunk_vectors=chunks,
        is_seed=seed,
    )


def make_copies(
    pages, n: int, rng: random.Random | int
) -> tuple[list[int], list[tuple[str, str, set[int]]]]:
    """The articles chosen and their copies: (kind, text, indexes of the allowed originals);
    `rng` a generator (left where the copies end) or a seed."""
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    chosen = rng.sample(range(len(pages)), min(n, len(pages)))
    copies = []
    for k in chosen:
        other = rng.choice([j for j in range(len(pages)) if j != k])
        for kind, text in transforms(pages[k].body, pages[other].body, rng).items():
            allowed = {k, other} if kind == "two_concatenated" else {k}
            copies.append((kind, text, allowed))
    return chosen, copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=60, help="articles to make copies of")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", default="default", choices=BACKENDS)
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the evaluation needs the shared news pages")
    settings = load_settings(env={}).dedup
    pages = [p for p in load_pages(NEWS_PAGES) if len(p.body.split()) >= 60]
    seeds = load_seeds(ROOT / "config" / "seeds")
    embedder = bench_embedder(args.backend)
    rng = random.Random(args.seed)
    chosen, copies = make_copies(pages, args.pages, rng)
    t0 = time.perf_counter()
    texts = [s.text for s in seeds] + [p.body for p in pages] + [c[1] for c in copies]
    vectors = embed_cached(embedder, texts)
    print(
        f"{len(pages)} articles, {len(seeds)} seeds, {len(copies)} copies "
        f"({len(chosen)} articles x 7 kinds); embeddings ({embedder.backend_name}) "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(
        f"thresholds: jaccard {settings.jaccard_threshold}, containment "
        f"{settings.containment_threshold}, candidate cosine {settings.candidate_similarity}, "
        f"LSH {settings.lsh_threshold}"
    )

    # Seeds against each other: none may be merged.
    index = DedupIndex(settings)
    seed_docs = [doc(i + 1, s.text, *vectors[s.text], seed=True) for i, s in enumerate(seeds)]
    seed_decisions = index.decide(seed_docs)
    seed_merged = sum(d.duplicate_of is not None for d in seed_decisions)
    stories = {s.file_name[:3]: d.story_id for s, d in zip(seeds, seed_decisions, strict=False)}

    base = 1000
    originals = [doc(base + j, p.body, *vectors[p.body]) for j, p in enumerate(pages)]
    for o in originals:
        index.add(o, DedupDecision(None, None, None, o.id))

    t1 = time.perf_counter()
    confusion: dict[str, list[int]] = {}
    tp = fn = 0
    for n, (kind, text, allowed) in enumerate(copies):
        d = doc(100000 + n, text, *vectors[text])
        decision = index.check(d)
        ok = decision.duplicate_of is not None and decision.duplicate_of - base in allowed
        confusion.setdefault(kind, [0, 0])[0 if ok else 1] += 1
        tp += ok
        fn += not ok
    fp = 0
    fp_examples = []
    for o in originals:
        index.remove([o.id])
        decision = index.check(o)
        if decision.duplicate_of is not None:
            fp += 1
            fp_examples.append((o.id, decision))
        index.add(o, DedupDecision(None, None, None, o.id))
    elapsed = time.perf_counter() - t1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(
        f"\npositives {tp + fn}, negatives {len(originals)} real articles (each against "
        f"the other {len(originals) - 1} and the seeds)"
    )
    print(f"precision {precision:.4f}  recall {recall:.4f}  (TP {tp}, FN {fn}, FP {fp})")
    print(
        f"seed pairs merged: {seed_merged} of 10;  seed stories: 000/002 "
        f"{'shared' if stories['000'] == stories['002'] else 'separate'}, 003/004 "
        f"{'shared' if stories['003'] == stories['004'] else 'separate'}, "
        f"{len(set(stories.values()))} stories for 5 seeds"
    )
    print("\nkind                        found  missed")
    for kind, (hit, miss) in sorted(confusion.items()):
        print(f"{kind:27} {hit:6d} {miss:7d}")
    for oid, decision in fp_examples[:5]:
        print(f"false positive: article {oid} → {decision}")
    print(f"\ndecision time: {1000 * elapsed / (len(copies) + len(originals)):.1f} ms per article")
    embedding_saved(settings, seed_docs, pages, copies, vectors, rng)


def embedding_saved(settings, seed_docs, pages, copies, vectors, rng: random.Random) -> None:
    """A syndication-heavy stream (the articles and all their copies, shuffled, in batches of 32)
    decided twice: every article embedded, and copies found by their text first (not embedded).
    Prints how much embedding the second path skips and whether any decision differs."""
    stream = [p.body for p in pages] + [c[1] for c in copies]
    rng.shuffle(stream)
    bare = np.zeros((0, 0), np.float32)
    runs = {}
    for mode in ("embed every article", "copies by text first"):
        index = DedupIndex(settings)
        index.decide(seed_docs)
        embedded = chunks = 0
        decisions = []

        def complete(d: DedupDoc) -> DedupDoc:
            nonlocal embedded, chunks
            vec, ch = vectors[d.text]
            embedded, chunks = embedded + 1, chunks + ch.shape[0]
            return replace(d, vector=vec, chunk_vectors=ch)

        for lo in range(0, len(stream), 32):
            batch = [
                doc(10**6 + lo + k, t, np.zeros(0, np.float32), bare)
                for k, t in enumerate(stream[lo : lo + 32])
            ]
            skip = index.likely_copies(batch) if mode != "embed every article" else set()
            batch = [d if d.id in skip else complete(d) for d in batch]
            decisions += index.decide(batch, complete)
        runs[mode] = (embedded, chunks, decisions)
    (n0, c0, d0), (n1, c1, d1) = runs.values()
    verdict = sum(
        (a.duplicate_of is None) != (b.duplicate_of is None) for a, b in zip(d0, d1, strict=False)
    )
    root = sum(a.duplicate_of != b.duplicate_of for a, b in zip(d0, d1, strict=False)) - verdict
    story = sum(a.story_id != b.story_id for a, b in zip(d0, d1, strict=False))
    print(
        f"\nsyndication-heavy stream: {len(stream)} articles ({len(pages)} originals, "
        f"{len(copies)} copies), shuffled, batches of 32"
    )
    print(
        f"embedded: every article {n0} texts / {c0} chunks; copies by text first {n1} texts / "
        f"{c1} chunks: {1 - c1 / c0:.1%} of the model's work saved"
    )
    # A copy embedded lends its root the meaning of all its text (a roundup, a new headline)
    # when later articles look for a story; without vectors only the root's own text counts.
    print(
        f"decisions that differ: copy/original {verdict}, another confirmed root {root}, "
        f"story {story} of {len(stream)}"
    )


if __name__ == "__main__":
    main()
