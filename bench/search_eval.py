"""Search benchmark: quality on a labeled query set, and latency at 10,000 and 100,000 articles.

Quality: the five seeds and the 181 pages of ../shared/corpus/news-pages (served on loopback
behind a feed, one real ingest cycle) in a fresh warehouse; the queries of
bench/data/search_queries.toml; recall@10 and nDCG@10 of full text alone, meaning alone and
hybrid, per kind of query, and the fusion settings tried around the shipped ones. Then how well
the saved-search match rule (alerts) separates relevant from other articles.

Scale: synthetic warehouses of N articles (copies of the corpus texts with one word in ten
replaced, and the source article's real chunk vectors with noise), written through the store's
bulk insert; median and p95 latency of each mode over the labeled queries, searching meaning
exactly (SQL over every chunk vector) and through the chunk vector index saved beside the
warehouse (pipeline/search/vectors.py), with the ratio of the two; what keeping the full text
current costs (our term index per batch vs rebuilding DuckDB's fts index); meaning in SQL vs
numpy. The quality figures are printed for both paths too (the corpus's index is saved with
[dedup] vector_index_min_rows = 0, the dedup's rule: English articles only).

    .venv/bin/python bench/search_eval.py [--sizes 10000,100000] [--no-scale | --no-quality]
                                          [--per-query] [--warehouses DIR] [--index-only]

At 1,000,000 articles: build with --warehouses DIR (about half an hour and 27 GB for the
articles, as long again for the index), then time with --index-only.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from pipeline.config.settings import load_settings
from pipeline.dedup.vectorindex import VectorIndex, index_paths
from pipeline.ingest import Services, run_cycle
from pipeline.ingest.upkeep import compact_search_index, sync_seeds
from pipeline.models import (
    ArticleDraft,
    Chunk,
    DedupDecision,
    Embedding,
    StoredArticle,
    TagResult,
)
from pipeline.search.engine import MODES, SearchOptions, VectorSource, options_from, prepare, search
from pipeline.search.terms import analyze, index_terms, parse_query
from pipeline.store import articles as article_store
from pipeline.store import search as search_store
from pipeline.store.db import Warehouse
from pipeline.testkit import SHARED
from pipeline.testkit.corpus import load_pages, serve
from pipeline.testkit.server import LoopbackServer
from pipeline.textnorm import is_english_like

ROOT = Path(__file__).resolve().parents[1]

NEWS_PAGES = SHARED / "corpus" / "news-pages"
QUERIES = ROOT / "bench" / "data" / "search_queries.toml"
K = 10


def settings_in(tmp: Path):
    (tmp / "feeds.toml").write_text("")
    (tmp / "settings.toml").write_text(
        f'[warehouse]\npath = "{tmp / "bench.duckdb"}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
        f'[seeds]\ndir = "{ROOT / "config" / "seeds"}"\n'
        f'[topics]\nfile = "{ROOT / "config" / "topics.toml"}"\n'
        f"[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\n"
    )
    return load_settings(tmp / "settings.toml", env={})


def build_corpus_warehouse(tmp: Path):
    """Seeds + the 181 pages ingested; returns services and {label: article id}."""
    settings = settings_in(tmp)
    services = Services(settings)
    services.warehouse.migrate()
    sync_seeds(services)
    pages = load_pages(NEWS_PAGES)
    with LoopbackServer() as server:
        feed = serve(server, pages)
        (tmp / "feeds.toml").write_text(f'[[feeds]]\nurl = "{feed}"\n')
        t0 = time.perf_counter()
        summary = run_cycle(services)
        print(f"corpus ingested: {summary.articles_new} pages in {time.perf_counter() - t0:.0f} s")
    return services, corpus_labels(services)


def open_corpus_warehouse(folder: Path):
    """The corpus warehouse an earlier run left in `folder`; returns services and labels."""
    services = Services(load_settings(folder / "settings.toml", env={}))
    return services, corpus_labels(services)


def corpus_warehouse(folder: Path | None, prefix: str):
    """The corpus warehouse an earlier run left in `folder`, or one built in a new temporary
    folder named by `prefix`; returns services and the folder."""
    if folder is not None:
        return open_corpus_warehouse(folder)[0], folder
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    return build_corpus_warehouse(folder)[0], folder


def corpus_labels(services: Services) -> dict[str, int]:
    """Article id by the label the query set uses: `seed:NNN`, or a page key's first 8 chars."""
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows("SELECT id, url FROM articles")
    labels = {}
    for aid, url in rows:
        if url.startswith("seed:"):
            labels[f"seed:{url[5:8]}"] = int(aid)
        elif "/page/" in url:  # served as /page/<key>.html
            labels[url.rsplit("/page/", 1)[1][:8]] = int(aid)
    return labels


def metrics(ranking: list[int], relevant: set[int]) -> tuple[float, float]:
    """recall@K and nDCG@K (binary gains) of one ranking."""
    top = ranking[:K]
    hits = [1.0 if aid in relevant else 0.0 for aid in top]
    recall = sum(hits) / len(relevant)
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), K)))
    return recall, dcg / ideal


def evaluate(services, queries, labels, options: SearchOptions, modes=MODES, prepared=None):
    """{mode: {query id: (recall, ndcg)}}."""
    sources = [VectorSource("chunk_embeddings", services.embedder)]
    out: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in modes}
    with services.warehouse.connect(read_only=True) as db:
        for q in queries:
            relevant = {labels[r] for r in q["relevant"]}
            prep = prepared[q["id"]] if prepared else prepare(q["query"], sources)
            for mode in modes:
                outcome = search(db, prep, mode=mode, limit=K, options=options)
                out[mode][q["id"]] = metrics([aid for aid, _ in outcome.fused], relevant)
    return out


#: Exactly (SQL over every chunk vector), and through the saved vector index whatever its size.
EXACT = {"vector_index": False}
THROUGH_INDEX = {"vector_index": True, "vector_index_min_rows": 0}


def save_vector_index(
    warehouse: Warehouse, model: str, block: int = 100_000
) -> tuple[float, int, int]:
    """Save the chunk vector index beside a warehouse as the ingest does (HNSW, the chunks of
    English articles); returns the seconds it took, its chunks and its file's bytes. The vectors
    are read `block` articles at a time: at 1,000,000 articles all of them at once (and the
    English ones copied) would need some 24 GB."""
    t = time.perf_counter()
    index: VectorIndex | None = None
    held = 0
    with warehouse.connect(read_only=True) as db:
        # DuckDB keeps what it read in its buffer pool up to 80 % of the memory by default, and
        # the index being built is not counted there: at 1,000,000 articles the two together
        # passed 19 GB. The vectors are read once, so a small pool costs nothing.
        db.execute("SET memory_limit = '2GB'")
        top = article_store.max_article_id(db)
        for start in range(0, top, block):
            keys, matrix = article_store.chunk_vectors(db, after_id=start, up_to=start + block)
            if not keys:
                continue
            english = {
                int(aid)
                for aid, lang, text in db.rows(
                    "SELECT id, lang, left(text, 3000) FROM articles WHERE id > ? AND id <= ?",
                    [start, start + block],
                )
                if is_english_like(lang, text)
            }
            owners = np.array([a for a, _ in keys], dtype=np.int64)
            kept = np.isin(owners, list(english))
            ids, counts = np.unique(owners[kept], return_counts=True)
            if index is None:
                index = VectorIndex(matrix.shape[1], exact_below=0)
            index.add_many(ids, counts, matrix[kept])
            held += int(kept.sum())
            print(
                f"    indexed articles up to {min(start + block, top):,} of {top:,}: {held:,} "
                f"chunks, {time.perf_counter() - t:.0f} s",
                flush=True,
            )
    if index is None:
        raise SystemExit(f"{warehouse.path} holds no chunk vectors to index")
    path, info = index_paths(warehouse.path)
    index.save(path, info, model=model)
    return time.perf_counter() - t, held, path.stat().st_size


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def quality_table(queries, result) -> None:
    """recall@10 and nDCG@10 of each mode, per kind of query and over all."""
    kinds = sorted({q["kind"] for q in queries})
    header = f"{'':12}" + "".join(f"{m + ' R@10':>15}{m + ' nDCG':>15}" for m in MODES)
    print(header)
    for kind in kinds + ["all"]:
        ids = [q["id"] for q in queries if kind in ("all", q["kind"])]
        cells = "".join(
            f"{mean(result[m][i][0] for i in ids):15.3f}{mean(result[m][i][1] for i in ids):15.3f}"
            for m in MODES
        )
        print(f"{kind + f' ({len(ids)})':12}{cells}")


def report_quality(services, queries, labels, args) -> None:
    shipped = dataclasses.replace(options_from(services.settings.search), **EXACT)
    sources = [VectorSource("chunk_embeddings", services.embedder)]
    prepared = {q["id"]: prepare(q["query"], sources) for q in queries}
    result = evaluate(services, queries, labels, shipped, prepared=prepared)
    print(
        f"\nquality: {len(queries)} queries (a set written for this benchmark and used to tune "
        f"the fusion: development figures, not held-out)"
    )
    print(
        f"shipped settings: depth {shipped.depth}, rrf_k {shipped.rrf_k:g}, weights text "
        f"{shipped.text_weight:g} / meaning {shipped.meaning_weight:g}, meaning_floor "
        f"{shipped.meaning_floor:g}, coverage_power {shipped.coverage_power:g}"
    )
    print("meaning searched exactly (SQL over every chunk vector):")
    quality_table(queries, result)
    seconds, chunks, _ = save_vector_index(services.warehouse, services.embedder.model_name)
    indexed = dataclasses.replace(shipped, **THROUGH_INDEX)
    through = evaluate(services, queries, labels, indexed, prepared=prepared)
    print(
        f"meaning through the saved chunk vector index ({chunks:,} chunks of English articles, "
        f"saved in {seconds:.1f} s; the others scored exactly):"
    )
    quality_table(queries, through)
    same = sum(result[m][q["id"]] == through[m][q["id"]] for m in MODES for q in queries)
    print(f"  (query, mode) figures equal on both paths: {same} of {len(MODES) * len(queries)}")
    if args.per_query:
        print(f"\nper query (nDCG@10): {'text':>6} {'meaning':>8} {'hybrid':>7}")
        for q in queries:
            i = q["id"]
            print(
                f"  {i:28} {result['text'][i][1]:6.2f} {result['meaning'][i][1]:8.2f} "
                f"{result['hybrid'][i][1]:7.2f}"
            )
    texts = {}
    with services.warehouse.connect(read_only=True) as db:
        for label, aid in labels.items():
            texts[label] = db.scalar(
                "SELECT title || ' ' || text FROM articles WHERE id = ?", [aid]
            )
    print("\nparaphrase queries: query terms found in their relevant articles")
    for q in queries:
        if q["kind"] == "paraphrase":
            terms = set(parse_query(q["query"]).terms)
            shared = sorted({t for r in q["relevant"] for t in terms & set(analyze(texts[r]))})
            print(f"  {q['id']:22} {len(shared)} of {len(terms)}: {', '.join(shared) or '-'}")

    print("\nfusion settings around the shipped ones (hybrid, all queries: R@10 / nDCG@10)")
    for rrf_k in (10.0, 30.0, 60.0, 120.0):
        cells = []
        for mw in (1.0, 2.0):
            opts = SearchOptions(
                depth=shipped.depth,
                rrf_k=rrf_k,
                text_weight=1.0,
                meaning_weight=mw,
                meaning_floor=shipped.meaning_floor,
                coverage_power=shipped.coverage_power,
            )
            r = evaluate(services, queries, labels, opts, modes=("hybrid",), prepared=prepared)
            cells.append(
                f"mw {mw:g}: {mean(v[0] for v in r['hybrid'].values()):.3f} / "
                f"{mean(v[1] for v in r['hybrid'].values()):.3f}"
            )
        print(f"  rrf_k {rrf_k:5g}  " + "   ".join(cells))
    for floor in (0.2, 0.3, 0.4):
        opts = SearchOptions(
            depth=shipped.depth,
            rrf_k=shipped.rrf_k,
            text_weight=shipped.text_weight,
            meaning_weight=shipped.meaning_weight,
            meaning_floor=floor,
            coverage_power=shipped.coverage_power,
        )
        r = evaluate(services, queries, labels, opts, modes=("hybrid",), prepared=prepared)
        print(
            f"  meaning_floor {floor:g}: {mean(v[0] for v in r['hybrid'].values()):.3f} / "
            f"{mean(v[1] for v in r['hybrid'].values()):.3f}"
        )
    for power in (0.0, 1.0, 2.0, 3.0):
        opts = SearchOptions(
            depth=shipped.depth,
            rrf_k=shipped.rrf_k,
            text_weight=shipped.text_weight,
            meaning_weight=shipped.meaning_weight,
            meaning_floor=shipped.meaning_floor,
            coverage_power=power,
        )
        r = evaluate(services, queries, labels, opts, modes=("hybrid",), prepared=prepared)
        plain = " (plain RRF)" if power == 0 else ""
        print(
            f"  coverage_power {power:g}{plain}: {mean(v[0] for v in r['hybrid'].values()):.3f}"
            f" / {mean(v[1] for v in r['hybrid'].values()):.3f}"
        )
    report_meaning_floor(services, queries, labels, prepared)
    report_alert_rule(services, queries, labels, prepared)


#: Queries about nothing the corpus holds (no article is about them): what meaning search shows
#: for them is noise, and the floor is there to keep it out.
NOTHING_TO_FIND = [
    "sourdough starter feeding schedule",
    "knitting a cable stitch sweater",
    "lattice quantum chromodynamics simulations",
    "medieval illuminated manuscripts restoration",
    "best hiking boots for wide feet",
    "how to descale an espresso machine",
    "origami crane folding instructions",
    "ballroom dancing competition results",
    "asdf qwerty zxcv",
    "lorem ipsum dolor sit amet",
]
FLOORS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def report_meaning_floor(services, queries, labels, prepared) -> None:
    """What `[search] meaning_floor` costs the labeled queries (recall and nDCG at each floor,
    meaning alone and hybrid) and what it keeps out: the meaning hits of queries about nothing
    the corpus holds, and the cosines of the relevant articles themselves."""
    shipped = options_from(services.settings.search)
    sources = [VectorSource("chunk_embeddings", services.embedder)]
    ids = sorted(labels.values())
    relevant_sims = []
    with services.warehouse.connect(read_only=True) as db:
        from pipeline.search.engine import meaning_ranking

        for q in queries:
            sims = {
                h.article_id: h.similarity
                for h in meaning_ranking(db, prepared[q["id"]].probes, depth=len(ids), only=ids)
            }
            relevant_sims += [sims.get(labels[r], 0.0) for r in q["relevant"]]
        nothing = [prepare(text, sources, "meaning") for text in NOTHING_TO_FIND]
        noise = [[h.similarity for h in meaning_ranking(db, p.probes, depth=K)] for p in nothing]
    relevant_sims.sort()
    print(
        f"\nmeaning floor ([search] meaning_floor, shipped {shipped.meaning_floor:g}): the best "
        f"chunk cosine of the {len(relevant_sims)} relevant (query, article) pairs: lowest "
        f"{relevant_sims[0]:.3f}, 5th percentile {percentile(relevant_sims, 5):.3f}, median "
        f"{statistics.median(relevant_sims):.3f}"
    )
    tops = sorted(max(n, default=0.0) for n in noise)
    print(
        f"{len(NOTHING_TO_FIND)} queries about nothing stored: best meaning hit's cosine "
        f"{tops[0]:.3f} to {tops[-1]:.3f} (median {statistics.median(tops):.3f})"
    )
    print(
        f"  {'floor':>6} {'relevant kept':>14} {'noise hits shown':>17} "
        f"{'meaning R@10 / nDCG':>20} {'hybrid R@10 / nDCG':>20}"
    )
    for floor in FLOORS:
        opts = dataclasses.replace(shipped, meaning_floor=floor)
        r = evaluate(
            services, queries, labels, opts, modes=("meaning", "hybrid"), prepared=prepared
        )
        kept = sum(1 for v in relevant_sims if v >= floor)
        shown = sum(1 for hits in noise for v in hits if v >= floor)
        cells = "".join(
            f"{mean(v[0] for v in r[m].values()):12.3f} / {mean(v[1] for v in r[m].values()):.3f}"
            for m in ("meaning", "hybrid")
        )
        print(
            f"  {floor:6.2f} {kept:>8} of {len(relevant_sims):<3} "
            f"{shown:>8} of {len(noise) * K:<6}{cells}"
        )


def report_alert_rule(services, queries, labels, prepared) -> None:
    """How the saved-search match rule (terms / meaning >= t) separates relevant articles."""
    ids = sorted(labels.values())
    rows = []  # (relevant, all terms present, similarity)
    with services.warehouse.connect(read_only=True) as db:
        from pipeline.search.engine import meaning_ranking

        for q in queries:
            relevant = {labels[r] for r in q["relevant"]}
            prep = prepared[q["id"]]
            present = search_store.terms_present(db, ids, prep.parsed.terms)
            sims = {
                h.article_id: h.similarity
                for h in meaning_ranking(db, prep.probes, depth=len(ids), only=ids)
            }
            for aid in ids:
                rows.append(
                    (
                        aid in relevant,
                        bool(prep.parsed.terms)
                        and present.get(aid, set()) >= set(prep.parsed.terms),
                        sims.get(aid, 0.0),
                    )
                )
    n_rel = sum(r[0] for r in rows)
    print(
        f"\nsaved-search match rule over every (query, article) pair: {n_rel} relevant of "
        f"{len(rows)}"
    )

    def line(name, picked):
        tp = sum(1 for r, p in zip(rows, picked, strict=False) if p and r[0])
        fp = sum(1 for r, p in zip(rows, picked, strict=False) if p and not r[0])
        precision = tp / (tp + fp) if tp + fp else float("nan")
        print(
            f"  {name:28} precision {precision:.3f}  recall {tp / n_rel:.3f}  "
            f"({tp} relevant, {fp} other)"
        )

    line("all terms present", [r[1] for r in rows])
    for t in (0.4, 0.45, 0.5, 0.55, 0.6):
        line(f"meaning >= {t:g}", [r[2] >= t for r in rows])
        line(f"terms or meaning >= {t:g}", [r[1] or r[2] >= t for r in rows])


# -- scale ---------------------------------------------------------------------------------------


def synthetic_articles(
    base,
    n: int,
    first_id: int,
    rng: random.Random,
    vocab: list[str],
    np_rng: np.random.Generator,
    model: str,
):
    """n StoredArticles copied from the corpus with perturbed text and noisy real vectors."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        title, text, chunks = base[(first_id + i) % len(base)]
        words = text.split()
        for _ in range(max(1, len(words) // 10)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        text = " ".join(words)
        noisy = chunks + np_rng.normal(0, 0.02, chunks.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        step = max(1, len(text) // len(noisy))
        emb_chunks = tuple(
            Chunk(k * step, min(len(text), (k + 1) * step), 200, noisy[k])
            for k in range(len(noisy))
        )
        pooled = noisy.mean(axis=0)
        pooled /= np.linalg.norm(pooled)
        aid = first_id + i
        when = now - timedelta(minutes=aid)
        draft = ArticleDraft(
            source="feed",
            url=f"https://synthetic.example/{aid}",
            title=title,
            text=text,
            text_source="page",
            fetched_at=when,
            canonical_url=f"https://synthetic.example/{aid}",
            published_at=when,
            lang="en",
        )
        out.append(
            StoredArticle(
                aid,
                draft,
                f"h{aid}",
                len(words),
                Embedding(model, pooled, emb_chunks),
                DedupDecision(None, None, None, aid),
                TagResult((), 0.2, True),
                terms=index_terms(title, text),
            )
        )
    return out


#: Articles made one by one (a text perturbed, its terms analysed: about 6 ms each). A larger
#: warehouse grows by copies of these made in SQL (`replicate`): 1,000,000 articles one by one
#: would take close to two hours here.
SYNTHETIC_MAX = 100_000


def build_synthetic(
    wh: Warehouse,
    size: int,
    base,
    vocab: list[str],
    model: str,
    rng: random.Random,
    np_rng: np.random.Generator,
    block: int = 2000,
) -> None:
    """`size` synthetic articles: up to SYNTHETIC_MAX made one by one, the rest copied in SQL."""
    made = min(size, SYNTHETIC_MAX)
    for start in range(1, made + 1, block):
        batch = synthetic_articles(
            base, min(block, made + 1 - start), start, rng, vocab, np_rng, model
        )
        with wh.transaction() as db:
            article_store.insert_articles(db, batch)
    replicate(wh, made, size)


def replicate(wh: Warehouse, made: int, size: int) -> None:
    """Articles made+1..size as copies of articles 1..made: ids, links, hashes and times of their
    own (one a minute on, as the first ones), chunk vectors with fresh noise (as
    synthetic_articles adds to the corpus's), text and terms as the original's."""
    for offset in range(made, size, made):
        n = min(made, size - offset)
        t0 = time.perf_counter()
        with wh.transaction() as db:
            db.execute(
                "INSERT INTO articles SELECT * REPLACE ("
                " id + $off AS id,"
                " 'https://synthetic.example/' || (id + $off) AS url,"
                " 'https://synthetic.example/' || (id + $off) AS canonical_url,"
                " 'h' || (id + $off) AS content_hash,"
                " published_at - to_minutes($off::BIGINT) AS published_at,"
                " fetched_at - to_minutes($off::BIGINT) AS fetched_at,"
                " story_id + $off AS story_id, duplicate_of + $off AS duplicate_of)"
                " FROM articles WHERE id <= $n ORDER BY id",
                {"off": offset, "n": n},
            )
            for table in ("embeddings", "search_docs", "search_terms"):
                db.execute(
                    f"INSERT INTO {table} SELECT * REPLACE (article_id + $off AS article_id) "
                    f"FROM {table} WHERE article_id <= $n ORDER BY article_id",
                    {"off": offset, "n": n},
                )
            # Uniform noise of sd 0.01 per component, then unit length again (the norm is a
            # column of its own: inside the lambda it would be computed once per component).
            db.execute(
                "INSERT INTO chunk_embeddings SELECT article_id + $off, chunk_no, start_char, "
                "end_char, model, list_transform(noisy, x -> (x / norm)::FLOAT) FROM ("
                " SELECT *, sqrt(list_dot_product(noisy, noisy)) AS norm FROM ("
                "  SELECT *, list_transform(vector, x -> (x + (random() - 0.5) * 0.035)::FLOAT)"
                "  AS noisy FROM chunk_embeddings WHERE article_id <= $n)) "
                "ORDER BY article_id, chunk_no",
                {"off": offset, "n": n},
            )
        print(
            f"  copied articles {offset + 1:,}-{offset + n:,} in SQL in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )


def percentile(values, p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fts_extension_path() -> Path | None:
    try:
        import duckdb_extension_fts
    except ImportError:
        return None
    found = sorted(
        Path(duckdb_extension_fts.__file__).parent.glob("extensions/*/fts.duckdb_extension")
    )
    return found[-1] if found else None


def corpus_base(services: Services) -> tuple[list, list[str]]:
    """The corpus articles' titles, texts and chunk vectors; the vocabulary to perturb with."""
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows("SELECT id, title, text FROM articles ORDER BY id")
        keys, matrix = article_store.chunk_vectors(db)
    by_article: dict[int, list[int]] = {}
    for pos, (aid, _) in enumerate(keys):
        by_article.setdefault(aid, []).append(pos)
    base = [
        (title, text, matrix[by_article[aid]])
        for aid, title, text in rows
        if aid in by_article and len(text.split()) > 20
    ]
    return base, sorted({w for _, text, _ in base for w in text.split()})


def report_scale(
    services,
    queries,
    sizes: list[int],
    *,
    numpy_too: bool = True,
    fts_too: bool = True,
    folder: Path | None = None,
    exact_too: bool = True,
) -> None:
    model = services.embedder.model_name
    base, vocab = corpus_base(services)
    sources = [VectorSource("chunk_embeddings", services.embedder)]
    prepared = [prepare(q["query"], sources) for q in queries]
    options = options_from(services.settings.search)
    ext = fts_extension_path()
    for size in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"newswatch-search-{size}-"))
        if folder is not None:
            tmp = folder / str(size)
            tmp.mkdir(parents=True, exist_ok=True)
        wh = Warehouse(tmp / "scale.duckdb")
        reused = wh.exists() and index_paths(wh.path)[1].exists()
        rng, np_rng = random.Random(size), np.random.default_rng(size)
        t0 = time.perf_counter()
        if not reused:
            wh.path.unlink(missing_ok=True)
            wh.migrate()
            build_synthetic(wh, size, base, vocab, model, rng, np_rng)
            wh.checkpoint()
        with wh.connect(read_only=True) as db:
            chunks = db.scalar("SELECT count(*) FROM chunk_embeddings")
            stats = search_store.index_stats(db)
        built = "reused" if reused else f"built in {time.perf_counter() - t0:.0f} s"
        print(
            f"\n{size:,} articles ({tmp}): {built}; {chunks:,} chunk "
            f"vectors, {stats['term_rows']:,} term rows; file "
            f"{(tmp / 'scale.duckdb').stat().st_size / 1e9:.2f} GB"
        )

        # Keeping the full text current: one cycle's batch of 32 articles.
        extra = synthetic_articles(base, 32, size + 1, rng, vocab, np_rng, model)
        plain = [dataclasses.replace(a, terms=None) for a in extra]
        timings = {}
        for name, batch in (("without terms", plain), ("with terms", extra)):
            samples = []
            for _ in range(3):
                t = time.perf_counter()
                try:
                    with wh.transaction() as db:
                        article_store.insert_articles(db, batch)
                        raise _Rollback
                except _Rollback:
                    pass
                samples.append(time.perf_counter() - t)
            timings[name] = statistics.median(samples)
        t = time.perf_counter()
        for a in extra:
            index_terms(a.draft.title, a.draft.text)
        analyse_s = time.perf_counter() - t
        print(
            f"  keeping full text current, per batch of 32 articles: analysing "
            f"{analyse_s * 1000:.0f} ms + writing terms "
            f"{(timings['with terms'] - timings['without terms']) * 1000:.0f} ms "
            f"(batch write {timings['without terms'] * 1000:.0f} ms without, "
            f"{timings['with terms'] * 1000:.0f} ms with)"
        )

        def latencies(label: str, path: dict, wh: Warehouse = wh) -> dict[str, tuple[float, float]]:
            figures = {}
            opts = dataclasses.replace(options, **path)
            with wh.connect(read_only=True) as db:
                for mode in MODES:
                    samples = []
                    for prep in prepared:
                        t = time.perf_counter()
                        search(db, prep, mode=mode, limit=20, options=opts)
                        samples.append(time.perf_counter() - t)
                    figures[mode] = (statistics.median(samples), percentile(samples, 95))
                    print(
                        f"  {label:26} {mode:8} ({len(samples)} queries) median "
                        f"{figures[mode][0] * 1000:6.0f} ms   p95 "
                        f"{figures[mode][1] * 1000:6.0f} ms"
                    )
            return figures

        if not reused:
            latencies("query, terms unsorted", EXACT)
            t = time.perf_counter()
            compact_search_index(wh)
            print(
                f"  compaction (term table sorted by term, maintenance): "
                f"{time.perf_counter() - t:.1f} s"
            )
            wh.checkpoint()
            seconds, held, size_b = save_vector_index(wh, model)
            print(
                f"  chunk vector index saved beside the warehouse (HNSW, as the ingest keeps it): "
                f"{held:,} chunks in {seconds:.0f} s, {size_b / 1e6:.0f} MB"
            )
        # Exact meaning is a product over every chunk vector: tens of seconds a query at
        # 1,000,000 articles, so a run there may time the index alone (--index-only).
        exact = latencies("query, terms sorted", EXACT) if exact_too else None
        with wh.connect(read_only=True) as db:
            t = time.perf_counter()
            search(
                db,
                prepared[0],
                mode="meaning",
                limit=20,
                options=dataclasses.replace(options, **THROUGH_INDEX),
            )
        print(
            f"  first search through the index in a process (maps the file; its checksum is "
            f"read only for a file the ingest did not write): "
            f"{(time.perf_counter() - t) * 1000:.0f} ms"
        )
        through = latencies("query, vector index", THROUGH_INDEX)
        if exact is not None:
            print(
                "  vector index / exact, median and p95: "
                + ", ".join(
                    f"{m} {through[m][0] / exact[m][0]:.2f} / {through[m][1] / exact[m][1]:.2f}"
                    for m in MODES
                )
            )
        t = time.perf_counter()
        encode = [services.embedder.encode([p.parsed.text]) for p in prepared]
        print(
            f"  embedding a query (outside the warehouse): "
            f"{(time.perf_counter() - t) / len(encode) * 1000:.0f} ms each"
        )

        if numpy_too:
            # Meaning in numpy: every chunk vector loaded once, then a matrix product per query.
            t = time.perf_counter()
            with wh.connect(read_only=True) as db:
                chunk_keys, chunk_matrix = article_store.chunk_vectors(db)
            load_s = time.perf_counter() - t
            samples = []
            for prep in prepared:
                t = time.perf_counter()
                sims = chunk_matrix @ prep.probes[0].vector
                top = np.argpartition(-sims, 100)[:100]
                samples.append(time.perf_counter() - t)
            print(
                f"  meaning in numpy instead: loading {len(chunk_keys):,} vectors {load_s:.1f} s "
                f"once, then median {statistics.median(samples) * 1000:.0f} ms per query "
                f"(top {len(top)})"
            )
            del chunk_matrix

        if not fts_too:
            continue
        if ext is None:
            print("  DuckDB fts extension: not installed (pip install duckdb-extension-fts)")
        else:
            with wh.connect() as db:
                db.execute(f"LOAD '{ext}'")
                t = time.perf_counter()
                db.execute(
                    "PRAGMA create_fts_index('articles', 'id', 'title', 'text', overwrite = 1)"
                )
                rebuild = time.perf_counter() - t
                samples = []
                for q in queries:
                    t = time.perf_counter()
                    db.rows(
                        "SELECT id, score FROM (SELECT id, fts_main_articles.match_bm25(id, ?)"
                        " AS score FROM articles) WHERE score IS NOT NULL "
                        "ORDER BY score DESC LIMIT 100",
                        [q["query"].replace('"', "")],
                    )
                    samples.append(time.perf_counter() - t)
                db.execute("PRAGMA drop_fts_index('articles')")
            print(
                f"  DuckDB fts extension instead: rebuilding its index {rebuild:.1f} s (it is "
                f"not updated by inserts: every cycle), match_bm25 median "
                f"{statistics.median(samples) * 1000:.0f} ms, p95 "
                f"{percentile(samples, 95) * 1000:.0f} ms"
            )


class _Rollback(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="synthetic warehouse sizes")
    ap.add_argument("--no-scale", action="store_true", help="quality only")
    ap.add_argument("--no-quality", action="store_true", help="scale only")
    ap.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="reuse the corpus warehouse of an earlier run (its folder) instead of "
        "ingesting the pages again",
    )
    ap.add_argument(
        "--latency-queries",
        type=int,
        default=0,
        help="time only this many of the labeled queries (spread over the kinds; 0: all)",
    )
    ap.add_argument(
        "--no-numpy",
        action="store_true",
        help="skip timing meaning in numpy (loads every chunk vector)",
    )
    ap.add_argument(
        "--no-fts",
        action="store_true",
        help="skip rebuilding DuckDB's fts index (minutes at 100,000 articles)",
    )
    ap.add_argument("--per-query", action="store_true", help="nDCG@10 of every query")
    ap.add_argument(
        "--index-only",
        action="store_true",
        help="time search through the vector index only, not exact meaning (at 1,000,000 "
        "articles tens of seconds a query)",
    )
    ap.add_argument(
        "--warehouses",
        type=Path,
        default=None,
        help="build the synthetic warehouses (and their vector index) in DIR/<size>, or reuse "
        "those an earlier run left there (then without the unsorted-terms timing)",
    )
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    queries = tomllib.loads(QUERIES.read_text(encoding="utf-8"))["query"]
    if args.corpus is not None:
        services, labels = open_corpus_warehouse(args.corpus)
    else:
        services, labels = build_corpus_warehouse(
            Path(tempfile.mkdtemp(prefix="newswatch-search-"))
        )
    missing = sorted({r for q in queries for r in q["relevant"]} - set(labels))
    if missing:
        sys.exit(f"labeled articles not stored: {', '.join(missing)}")
    if not args.no_quality:
        report_quality(services, queries, labels, args)
    if not args.no_scale:
        timed = queries
        if args.latency_queries:
            step = max(1, len(queries) // args.latency_queries)
            timed = queries[::step][: args.latency_queries]
        report_scale(
            services,
            timed,
            [int(s) for s in args.sizes.split(",")],
            numpy_too=not args.no_numpy,
            fts_too=not args.no_fts,
            folder=args.warehouses,
            exact_too=not args.index_only,
        )


if __name__ == "__main__":
    main()
