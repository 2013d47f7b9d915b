"""Topic tagging evaluation: per-topic precision, recall and F1 on the labeled development set
(bench/data/topics_dev.toml), the seed expectations, and which of the 181 general news pages in
../shared/corpus/news-pages get a topic, and why.

    .venv/bin/python bench/topics_eval.py [--topics config/topics.toml] [--no-pages]
                                          [--backend torch]
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from pipeline.embed import Embedder
from pipeline.models import Chunk, Embedding
from pipeline.seeds import load_seeds
from pipeline.settings import load_settings, with_overrides
from pipeline.testkit.embedcache import BACKENDS, bench_embedder, embed_cached
from pipeline.topics import build_tagger

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"
SEED_EXPECTED = {"000": {"sanctions", "satellite_support"}, "001": {"sanctions", "satellite_support"},
                 "002": {"sanctions", "satellite_support"}, "003": {"espionage"},
                 "004": {"espionage"}}


def embeddings(embedder: Embedder, texts: list[str]) -> list[Embedding]:
    cached = embed_cached(embedder, texts)
    out = []
    for t in texts:
        vector, chunks = cached[t]
        spans = embedder.spans(t)
        out.append(Embedding(embedder.model_name, vector,
                             tuple(Chunk(s.start_char, s.end_char, s.tokens, c)
                                   for s, c in zip(spans, chunks))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=Path, default=ROOT / "config" / "topics.toml")
    ap.add_argument("--no-pages", action="store_true", help="skip the 181 news pages")
    ap.add_argument("--backend", default="default", choices=BACKENDS)
    args = ap.parse_args()
    settings = with_overrides(load_settings(env={}), topics={"file": args.topics.resolve()})
    embedder = bench_embedder(args.backend)
    seeds = load_seeds(settings.seeds.dir)
    seed_emb = embeddings(embedder, [s.text for s in seeds])
    tagger = build_tagger(settings.topics, settings.seeds.dir, embedder,
                          np.stack([e.vector for e in seed_emb]),
                          np.stack([c.vector for e in seed_emb for c in e.chunks]))
    slugs = [t.slug for t in tagger.topics]
    print(f"topics file {args.topics}; embeddings: {embedder.backend_name}")
    for name, file in (("development set (thresholds were set on it)", "topics_dev.toml"),
                       ("held-out set (never used for tuning)", "topics_holdout.toml")):
        items = tomllib.loads((ROOT / "bench" / "data" / file).read_text())["item"]
        evaluate(tagger, slugs, name, items, embeddings(embedder, [d["text"] for d in items]))
    report_seeds_and_pages(tagger, embedder, seeds, seed_emb, settings, args)


def evaluate(tagger, slugs, name, dev, dev_emb) -> None:
    """Print per-topic precision, recall and F1 on a labeled set, and its errors."""
    print(f"\n{name}: {len(dev)} articles")
    print(f"{'topic':18} {'P':>6} {'R':>6} {'F1':>6}   TP FP FN")
    errors = []
    neg_meaning: dict[str, list[float]] = {}
    for slug in slugs:
        tp = fp = fn = 0
        for item, emb in zip(dev, dev_emb):
            got = {t.topic for t in tagger.tag("", item["text"], emb).topics}
            want = slug in item["labels"]
            if not want:
                topic = next(t for t in tagger.topics if t.slug == slug)
                neg_meaning.setdefault(slug, []).append(tagger.score(topic, item["text"], emb)[1])
            have = slug in got
            tp += want and have
            fp += have and not want
            fn += want and not have
            if want != have:
                topic = next(t for t in tagger.topics if t.slug == slug)
                score, meaning, lexical, _ = tagger.score(topic, item["text"], emb)
                errors.append((slug, "missed" if want else "false",
                               f"score {score:.2f} meaning {meaning:.2f} words "
                               f"{lexical.weight:.1f}{'' if lexical.context else ' (no context)'}"
                               f" | {item['text'][:70]}"))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{slug:18} {p:6.3f} {r:6.3f} {f:6.3f}   {tp:2d} {fp:2d} {fn:2d}")
    for slug, kind, text in errors:
        print(f"  {kind:6} {slug:17} {text}")
    print("  highest meaning among articles without the topic: " + ", ".join(
        f"{slug} {max(v):.2f}" for slug, v in neg_meaning.items()))


def report_seeds_and_pages(tagger, embedder, seeds, seed_emb, settings, args) -> None:
    """The seed expectations, and which general news pages get a topic."""
    print("\nseeds:")
    for seed, emb in zip(seeds, seed_emb):
        got = {t.topic: t.score for t in tagger.tag(seed.title, seed.text, emb).topics}
        want = SEED_EXPECTED.get(seed.file_name[:3], set())
        mark = "ok" if set(got) == want else "WRONG"
        print(f"  {seed.file_name[:3]} {mark:5} {sorted(got.items())} (expected {sorted(want)})")

    if args.no_pages or not NEWS_PAGES.exists():
        return
    from pipeline.testkit.corpus import load_pages

    pages = load_pages(NEWS_PAGES)
    page_emb = embeddings(embedder, [p.body for p in pages])
    tagged, relevances = [], []
    for page, emb in zip(pages, page_emb):
        result = tagger.tag("", page.body, emb)
        relevances.append(result.relevance)
        if result.topics:
            tagged.append((page, result))
    rel = np.array(relevances)
    print("\nrelevance of general news: " + ", ".join(
        f"{int((rel >= x).sum())} pages >= {x}" for x in (0.35, 0.4, 0.45, 0.5, 0.55)))
    print(f"\n181 news pages: {len(tagged)} get a topic; relevance to the seeds: median "
          f"{np.median(rel):.3f}, 90th percentile {np.percentile(rel, 90):.3f}, max {rel.max():.3f}; "
          f"{int((rel >= settings.topics.min_relevance).sum())} at or above min_relevance "
          f"{settings.topics.min_relevance}")
    for page, result in tagged:
        why = "; ".join(f"{t.topic} {t.score:.2f} [{', '.join(t.matched_terms[:4])}]"
                        for t in result.topics)
        print(f"  {page.url[:70]:70} {why}")


if __name__ == "__main__":
    main()
