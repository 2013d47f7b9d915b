"""Parity gate of the embedding backends: does a faster backend (or a smaller chunk overlap)
change what newswatch decides? Every figure is against the torch (sentence-transformers) path
with the shipped settings, on the same texts, in this run:

- vectors: cosine of each article and chunk vector to torch's (mean, minimum) on the five seeds
  and the 181 pages of ../shared/corpus/news-pages, and the chunks embedded;
- duplicates: bench/dedup_eval.py's labelled syndication copies and negatives: precision, recall,
  and every decision (duplicate_of) that differs from torch's;
- stories: the seeds' story grouping (the story-pairs development set goes through a whole
  ingest cycle: `bench/story_eval.py --backend torch` against `--backend default`);
- topics: the tags of each item of the development and held-out sets and of the seeds that
  differ from torch's, and the development set's F1 per topic.

    .venv/bin/python bench/embed_parity.py [--backends onnx-fp32,onnx-int8,onnx-fp32@32]

A backend is torch, onnx-fp32 or onnx-int8, optionally with @N for a chunk overlap of N word
pieces (the shipped setting otherwise). Vectors are cached in bench/out/ by text and backend.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # the sibling benchmarks' copy maker and seed labels

from dedup_eval import doc, make_copies  # noqa: E402
from topics_eval import SEED_EXPECTED, embeddings  # noqa: E402

from pipeline.config.settings import load_settings  # noqa: E402
from pipeline.dedup.index import DedupIndex  # noqa: E402
from pipeline.models import DedupDecision  # noqa: E402
from pipeline.tag.seeds import load_seeds  # noqa: E402
from pipeline.tag.topics import build_tagger  # noqa: E402
from pipeline.testkit.corpus import load_pages  # noqa: E402
from pipeline.testkit.embedcache import bench_embedder, embed_cached  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpus"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def run(spec: str, data: dict, settings) -> dict:
    """Every figure and decision of one backend."""
    backend, _, overlap = spec.partition("@")
    embedder = bench_embedder(backend, int(overlap) if overlap else None)
    t0 = time.perf_counter()
    texts = list(
        dict.fromkeys(data["seeds"] + data["pages"] + data["copies_text"] + data["topic_texts"])
    )
    vectors = embed_cached(embedder, texts)
    out = {
        "name": f"{spec} ({embedder.backend_name}, overlap {embedder.overlap_tokens})",
        "embed_s": time.perf_counter() - t0,
        "vectors": vectors,
    }

    # Duplicates: dedup_eval's procedure, keeping every decision.
    index = DedupIndex(settings.dedup)
    seed_docs = [doc(i + 1, t, *vectors[t], seed=True) for i, t in enumerate(data["seeds"])]
    seed_dec = index.decide(seed_docs)
    out["seed_stories"] = [d.story_id for d in seed_dec]
    out["seed_dups"] = [d.duplicate_of for d in seed_dec]
    base = 1000
    originals = [doc(base + j, t, *vectors[t]) for j, t in enumerate(data["dedup_pages"])]
    for o in originals:
        index.add(o, DedupDecision(None, None, None, o.id))
    dup_decisions, tp, fn = [], 0, 0
    for n, (_kind, text, allowed) in enumerate(data["copies"]):
        decision = index.check(doc(100000 + n, text, *vectors[text]))
        dup_decisions.append(decision.duplicate_of)
        ok = decision.duplicate_of is not None and decision.duplicate_of - base in allowed
        tp += ok
        fn += not ok
    fp = 0
    for o in originals:
        index.remove([o.id])
        decision = index.check(o)
        dup_decisions.append(decision.duplicate_of)
        fp += decision.duplicate_of is not None
        index.add(o, DedupDecision(None, None, None, o.id))
    out["dups"] = dup_decisions
    out["dup_pr"] = (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)

    # Topics: tags of the labelled sets and the seeds.
    seed_emb = embeddings(embedder, data["seeds"])
    tagger = build_tagger(
        settings.topics,
        settings.seeds.dir,
        embedder,
        np.stack([e.vector for e in seed_emb]),
        np.stack([c.vector for e in seed_emb for c in e.chunks]),
    )
    topic_emb = embeddings(embedder, data["topic_texts"])
    out["tags"] = [
        sorted(t.topic for t in tagger.tag("", text, emb).topics)
        for text, emb in zip(data["topic_texts"], topic_emb, strict=False)
    ]
    out["seed_tags"] = [
        sorted(t.topic for t in tagger.tag(s.title, s.text, e).topics)
        for s, e in zip(data["seed_records"], seed_emb, strict=False)
    ]
    f1 = {}
    dev = data["topic_labels"][: data["dev_count"]]
    for slug in (t.slug for t in tagger.topics):
        tp_ = sum(slug in got and slug in want for got, want in zip(out["tags"], dev, strict=False))
        fp_ = sum(
            slug in got and slug not in want for got, want in zip(out["tags"], dev, strict=False)
        )
        fn_ = sum(
            slug not in got and slug in want for got, want in zip(out["tags"], dev, strict=False)
        )
        f1[slug] = 2 * tp_ / (2 * tp_ + fp_ + fn_) if tp_ else 0.0
    out["dev_f1"] = f1
    out["chunks"] = sum(len(vectors[t][1]) for t in data["seeds"] + data["pages"])
    return out


def compare(ref: dict, got: dict, data: dict, settings) -> None:
    """Print one backend's figures and every decision that differs from torch's."""
    print(f"\n== {got['name']}   (embedding {got['embed_s']:.0f} s, cached texts excluded)")
    pv, rv = ref["vectors"], got["vectors"]
    same_shape = [t for t in data["seeds"] + data["pages"] if rv[t][1].shape == pv[t][1].shape]
    art = np.array([float(rv[t][0] @ pv[t][0]) for t in data["seeds"] + data["pages"]])
    line = (
        f"vectors, seeds + {len(data['pages'])} pages: article cosine to torch mean "
        f"{art.mean():.6f} min {art.min():.6f}"
    )
    if len(same_shape) == len(data["seeds"]) + len(data["pages"]):
        ch = np.concatenate([np.sum(rv[t][1] * pv[t][1], axis=1) for t in same_shape])
        line += f"; chunk cosine mean {ch.mean():.6f} min {ch.min():.6f}"
    print(line + f"; chunks {got['chunks']} (torch {ref['chunks']})")

    diff = [i for i, (a, b) in enumerate(zip(ref["dups"], got["dups"], strict=False)) if a != b]
    print(
        f"duplicates: precision {got['dup_pr'][0]:.4f} recall {got['dup_pr'][1]:.4f} "
        f"(torch {ref['dup_pr'][0]:.4f} / {ref['dup_pr'][1]:.4f}); "
        f"{len(diff)} of {len(ref['dups'])} decisions differ"
    )
    for i in diff[:5]:
        kind = data["copies"][i][0] if i < len(data["copies"]) else "negative (real article)"
        print(f"  differs: {kind}: torch {ref['dups'][i]} -> {got['dups'][i]}")

    seeds_same = got["seed_stories"] == ref["seed_stories"] and got["seed_dups"] == ref["seed_dups"]
    print(
        f"stories: seeds' stories and duplicates {'same' if seeds_same else 'DIFFER'} "
        f"(story pairs: bench/story_eval.py --backend)"
    )

    tag_diff = [i for i, (a, b) in enumerate(zip(ref["tags"], got["tags"], strict=False)) if a != b]
    seed_ok = all(
        set(t) == SEED_EXPECTED[s.file_name[:3]]
        for t, s in zip(got["seed_tags"], data["seed_records"], strict=False)
    )
    print(
        f"topics: {len(tag_diff)} of {len(ref['tags'])} labelled items tagged differently; "
        f"seeds' tags {'as expected' if seed_ok else 'NOT as expected'}; dev F1 "
        + ", ".join(f"{k} {v:.3f} (torch {ref['dev_f1'][k]:.3f})" for k, v in got["dev_f1"].items())
    )
    for i in tag_diff[:5]:
        print(
            f"  differs: {data['topic_texts'][i][:60]!r}: torch {ref['tags'][i]} -> "
            f"{got['tags'][i]}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="onnx-fp32,onnx-int8")
    ap.add_argument("--pages", type=int, default=60, help="articles dedup_eval makes copies of")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not (SHARED / "news-pages").exists():
        sys.exit(f"{SHARED / 'news-pages'} is absent: the gate needs the shared news pages")
    settings = load_settings(env={})
    pages = load_pages(SHARED / "news-pages")
    seed_records = load_seeds(settings.seeds.dir)
    dedup_pages = [p for p in pages if len(p.body.split()) >= 60]
    _, copies = make_copies(dedup_pages, args.pages, args.seed)
    items = []
    dev_count = 0
    for file in ("topics_dev.toml", "topics_holdout.toml"):
        got = tomllib.loads((ROOT / "bench" / "data" / file).read_text())["item"]
        items += got
        dev_count = dev_count or len(got)
    data = {
        "seeds": [s.text for s in seed_records],
        "seed_records": seed_records,
        "pages": [p.body for p in pages],
        "dedup_pages": [p.body for p in dedup_pages],
        "copies": copies,
        "copies_text": [c[1] for c in copies],
        "topic_texts": [i["text"] for i in items],
        "topic_labels": [i["labels"] for i in items],
        "dev_count": dev_count,
    }
    print(
        f"texts: {len(seed_records)} seeds, {len(pages)} pages, {len(copies)} copies, "
        f"{len(items)} labelled topic items ({dev_count} dev)"
    )
    ref = run("torch", data, settings)
    print(
        f"torch: embedding {ref['embed_s']:.0f} s (cached texts excluded); duplicates "
        f"precision {ref['dup_pr'][0]:.4f} recall {ref['dup_pr'][1]:.4f}; dev F1 "
        + ", ".join(f"{k} {v:.3f}" for k, v in ref["dev_f1"].items())
    )
    for spec in [s.strip() for s in args.backends.split(",") if s.strip()]:
        compare(ref, run(spec, data, settings), data, settings)


if __name__ == "__main__":
    main()
