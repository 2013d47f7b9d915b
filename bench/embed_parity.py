"""Parity gate of the embedding backends: does int8 (the default), torch or a smaller chunk
overlap decide what fp32 decides? fp32 (ONNX Runtime, the reference here) gives torch's vectors
(cosine 1.000000: tests/test_embed_onnx.py); every figure is against it, on the same texts, in
this run:

- vectors: cosine of each article and chunk vector to fp32's (mean, minimum) on the five seeds
  and the 181 pages of ../shared/corpus/news-pages, and the chunks embedded;
- duplicates: bench/dedup_eval.py's labelled syndication copies and negatives: precision, recall,
  and every decision (duplicate_of) that differs from fp32's;
- stories: the English story pairs of ../shared/corpus/story-pairs in both arrival orders, each
  decided over the backend's own vectors (one real ingest per backend, then replays:
  bench/story_replay.py): same-story and unrelated pairs joined, and every pair decided
  otherwise; the seeds' stories and duplicates;
- topics: the tags of each item of the development and held-out sets and of the seeds that
  differ from fp32's, and the development set's F1 per topic.

A backend passes the gate when its duplicate precision and recall, its development-set F1 of
every topic and its seeds' stories, duplicates and tags equal fp32's, and its story-pair figures
in both orders are no worse (as many same-story pairs joined, no more unrelated ones; pairs
judged neither are printed, not gated, as bench/story_eval.py counts them); the decisions that
differ are listed either way (a decision at the edge of a threshold may move without moving a
figure). The exit status is 1 when a backend fails.

    .venv/bin/python bench/embed_parity.py [--backends onnx-int8,torch,onnx-int8@32]

A backend is torch, onnx-fp32 or onnx-int8, optionally with @N for a chunk overlap of N word
pieces (the shipped setting otherwise; story pairs are measured at the shipped overlap only).
Vectors are cached in bench/out/ by text and backend, story-pair documents in
bench/out/story-docs/.
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
from story_cycle import DAY, same_day  # noqa: E402
from story_replay import collect, joined, replay  # noqa: E402
from topics_eval import SEED_EXPECTED, embeddings  # noqa: E402

from pipeline.config.settings import load_settings  # noqa: E402
from pipeline.dedup.index import DedupIndex  # noqa: E402
from pipeline.models import DedupDecision  # noqa: E402
from pipeline.tag.seeds import load_seeds  # noqa: E402
from pipeline.tag.topics import build_tagger  # noqa: E402
from pipeline.testkit.corpus import load_pages  # noqa: E402
from pipeline.testkit.embedcache import (  # noqa: E402
    bench_embedder,
    embed_cached,
    resolve_backend,
)
from pipeline.testkit.storypairs import PAIRS_CSV, StoryPair, load_pairs  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpus"
NOW = datetime(2026, 11, 23, tzinfo=UTC)
#: The backend every other one is compared with.
REFERENCE = "onnx-fp32"
#: Pair labels of the story figures.
LABELS = ("same", "unrelated", "related")


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
    out["pairs"] = story_pairs(backend, data["pairs"], settings) if not overlap else None
    return out


def story_pairs(
    backend: str, pairs: list[StoryPair], settings
) -> dict[str, dict[str, bool]] | None:
    """{arrival order: {pair id: joined}} of the English story pairs decided over the backend's
    vectors (None without the shared pairs)."""
    if not pairs:
        return None
    corpus = collect(pairs, resolve_backend(backend))  # one real ingest per backend, cached
    return {
        order: joined(
            pairs, replay(corpus, same_day(pairs, DAY, order == "reverse"), settings.dedup)
        )
        for order in ("forward", "reverse")
    }


def pair_figures(pairs: list[StoryPair], decided: dict[str, bool]) -> dict[str, tuple[int, int]]:
    """{label: (pairs joined, pairs decided)}."""
    return {
        label: (
            sum(decided[p.pair_id] for p in pairs if p.label == label and p.pair_id in decided),
            sum(1 for p in pairs if p.label == label and p.pair_id in decided),
        )
        for label in LABELS
    }


def compare(ref: dict, got: dict, data: dict) -> list[str]:
    """Print one backend's figures and every decision that differs from the reference's; the
    gate's figures that differ (none: the backend passes)."""
    print(f"\n== {got['name']}   (embedding {got['embed_s']:.0f} s, cached texts excluded)")
    failed = []
    pv, rv = ref["vectors"], got["vectors"]
    same_shape = [t for t in data["seeds"] + data["pages"] if rv[t][1].shape == pv[t][1].shape]
    art = np.array([float(rv[t][0] @ pv[t][0]) for t in data["seeds"] + data["pages"]])
    line = (
        f"vectors, seeds + {len(data['pages'])} pages: article cosine to fp32 mean "
        f"{art.mean():.6f} min {art.min():.6f}"
    )
    if len(same_shape) == len(data["seeds"]) + len(data["pages"]):
        ch = np.concatenate([np.sum(rv[t][1] * pv[t][1], axis=1) for t in same_shape])
        line += f"; chunk cosine mean {ch.mean():.6f} min {ch.min():.6f}"
    print(line + f"; chunks {got['chunks']} (fp32 {ref['chunks']})")

    diff = [i for i, (a, b) in enumerate(zip(ref["dups"], got["dups"], strict=True)) if a != b]
    print(
        f"duplicates: precision {got['dup_pr'][0]:.4f} recall {got['dup_pr'][1]:.4f} "
        f"(fp32 {ref['dup_pr'][0]:.4f} / {ref['dup_pr'][1]:.4f}); "
        f"{len(diff)} of {len(ref['dups'])} decisions differ"
    )
    if got["dup_pr"] != ref["dup_pr"]:
        failed.append("duplicate precision/recall")
    for i in diff:
        kind = data["copies"][i][0] if i < len(data["copies"]) else "negative (real article)"
        print(f"  differs: {kind}: fp32 {ref['dups'][i]} -> {got['dups'][i]}")

    failed += compare_pairs(ref["pairs"], got["pairs"], data["pairs"])
    seeds_same = got["seed_stories"] == ref["seed_stories"] and got["seed_dups"] == ref["seed_dups"]
    print(f"seeds' stories and duplicates: {'same' if seeds_same else 'DIFFER'}")
    if not seeds_same:
        failed.append("seeds' stories or duplicates")

    tag_diff = [i for i, (a, b) in enumerate(zip(ref["tags"], got["tags"], strict=True)) if a != b]
    seed_ok = all(
        set(t) == SEED_EXPECTED[s.file_name[:3]]
        for t, s in zip(got["seed_tags"], data["seed_records"], strict=True)
    )
    print(
        f"topics: {len(tag_diff)} of {len(ref['tags'])} labelled items tagged differently; "
        f"seeds' tags {'as expected' if seed_ok else 'NOT as expected'}; dev F1 "
        + ", ".join(f"{k} {v:.3f} (fp32 {ref['dev_f1'][k]:.3f})" for k, v in got["dev_f1"].items())
    )
    if got["dev_f1"] != ref["dev_f1"]:
        failed.append("topic development-set F1")
    if got["seed_tags"] != ref["seed_tags"]:
        failed.append("seeds' tags")
    for i in tag_diff:
        print(
            f"  differs: {data['topic_texts'][i][:60]!r}: fp32 {ref['tags'][i]} -> {got['tags'][i]}"
        )
    print(
        "GATE: pass (every figure equals fp32's or, for story pairs, is no worse)"
        if not failed
        else f"GATE: FAIL ({', '.join(failed)} worse than or unlike fp32's)"
    )
    return failed


def compare_pairs(
    ref: dict[str, dict[str, bool]] | None,
    got: dict[str, dict[str, bool]] | None,
    pairs: list[StoryPair],
) -> list[str]:
    """Print the story-pair figures of both orders and the pairs decided otherwise; what of
    the gate differs ("not measured" counts as differing)."""
    if ref is None or got is None:
        print("story pairs: not measured (shared pairs absent, or another chunk overlap)")
        return ["story pairs (not measured)"]
    failed = []
    label_of = {p.pair_id: p.label for p in pairs}
    for order in ("forward", "reverse"):
        mine, theirs = pair_figures(pairs, got[order]), pair_figures(pairs, ref[order])
        differ = sorted(k for k in ref[order] if got[order].get(k) != ref[order][k])
        print(
            f"story pairs, {order} order: "
            + ", ".join(
                f"{label} joined {mine[label][0]}/{mine[label][1]} (fp32 {theirs[label][0]})"
                for label in LABELS
            )
            + f"; {len(differ)} pairs decided otherwise"
        )
        for k in differ:
            print(
                f"  differs: pair {k} ({label_of[k]}): fp32 "
                f"{'joined' if ref[order][k] else 'apart'} -> "
                f"{'joined' if got[order].get(k) else 'apart'}"
            )
        # Judged pairs gate: no fewer same-story pairs joined, no more unrelated ones. Pairs
        # judged in between ("related") count for neither side, as in bench/story_eval.py.
        if mine["same"][0] < theirs["same"][0] or mine["unrelated"][0] > theirs["unrelated"][0]:
            failed.append(f"story pairs ({order})")
    return failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="onnx-int8,torch")
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
    pairs = load_pairs(langs={"en"}) if PAIRS_CSV.exists() else []
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
        "pairs": pairs,
    }
    print(
        f"texts: {len(seed_records)} seeds, {len(pages)} pages, {len(copies)} copies, "
        f"{len(items)} labelled topic items ({dev_count} dev), {len(pairs)} English story pairs"
    )
    ref = run(REFERENCE, data, settings)
    print(
        f"{ref['name']}: embedding {ref['embed_s']:.0f} s (cached texts excluded); duplicates "
        f"precision {ref['dup_pr'][0]:.4f} recall {ref['dup_pr'][1]:.4f}; dev F1 "
        + ", ".join(f"{k} {v:.3f}" for k, v in ref["dev_f1"].items())
    )
    failed = {}
    for spec in [s.strip() for s in args.backends.split(",") if s.strip()]:
        failed[spec] = compare(ref, run(spec, data, settings), data)
    print(
        "\n== gate against fp32: "
        + "; ".join(f"{spec} {'FAIL' if why else 'pass'}" for spec, why in failed.items())
    )
    if any(failed.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
