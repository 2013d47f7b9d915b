"""Reading-room benchmark: p50 and p95 latency of each page on a large warehouse, with the daemon
idle and while an ingest writes, and what the pages cost the writer.

The warehouse is built as bench/search_eval.py builds its scale warehouses (copies of the 181
shared pages with one word in ten replaced and their real chunk vectors with noise; beyond
100,000 articles, copies of those made in SQL with fresh noise), then made to look like months
of news: stories of four reports (one of them a copy), a third of the articles
on a topic, one in twenty naming a watchlist entity, one article stored a minute apart.

The server runs as `newswatch serve` does (uvicorn, one process); the requests come one after the
other from this process over loopback. "While an ingest writes" stores a batch of 32 articles in
one transaction every 2 seconds, as a daemon's cycles do, in one of two places (`--writer`):
- `process`: another process, as `newswatch run` beside a separate `newswatch serve`. A page
  cannot open the file while the batch holds it; one read in the last `[web]
  stale_while_writing_s` is answered from that reading (counted in the report), any other waits;
- `thread`: a thread of the server's process, as `newswatch run` serves the pages itself. Pages
  read the open database beside the batch (DuckDB's snapshots) and never wait for it.
The writer reports how long each batch waited for the file and held it, alone and while the
pages are read.

    .venv/bin/python bench/web.py [--sizes 100000] [--requests 30] [--corpus DIR]
                                  [--reuse DIR] [--idle-only] [--no-search]
                                  [--writer thread|process|both] [--stale-s S]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from pipeline.config.settings import load_settings, with_overrides
from pipeline.dedup.vectorindex import index_paths
from pipeline.ingest.upkeep import compact_search_index, keep_texts
from pipeline.store import articles as article_store
from pipeline.store.db import Warehouse
from pipeline.store.textstore import TextStore, keep_committed
from pipeline.web.render import AS_OF_HEADER
from pipeline.web.server import Address, BackgroundServer, build

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # the search benchmark's corpus and synthetic articles

from search_eval import (  # noqa: E402
    NEWS_PAGES,
    QUERIES,
    build_synthetic,
    corpus_base,
    corpus_warehouse,
    percentile,
    save_vector_index,
    synthetic_articles,
)

WATCHLIST = """
[[entities]]
name = "Spacety"
kind = "organisation"

[[entities]]
name = "Wagner Group"
kind = "organisation"
aliases = ["PMC Wagner"]
"""
TOPICS = ("sanctions", "espionage", "satellite_support")
BATCH = 32
WRITERS = {
    "thread": "in the server's process (`newswatch run` serving the pages)",
    "process": "in another process (`newswatch serve` beside `newswatch run`)",
}
WRITE_EVERY_S = 2.0


def build_warehouse(path: Path, size: int, base: list, vocab: list[str], model: str) -> None:
    """A synthetic warehouse of `size` articles shaped like months of news (see above)."""
    wh = Warehouse(path)
    wh.migrate()
    build_synthetic(wh, size, base, vocab, model, random.Random(size), np.random.default_rng(size))
    with wh.transaction() as db:
        db.execute(
            "UPDATE articles SET story_id = id - ((id - 1) % 4), "
            "site_name = 'Outlet ' || (id % 40), "
            "duplicate_of = CASE WHEN id % 4 = 0 THEN id - 3 END, "
            "duplicate_kind = CASE WHEN id % 4 = 0 THEN 'near' END, on_topic = (id % 3 = 0)"
        )
        for k, topic in enumerate(TOPICS):
            db.execute(
                "INSERT INTO article_topics (article_id, topic, score, evidence, matched_terms, "
                "passage) SELECT id, ?, 0.5 + (id % 50) / 100.0, '{}', ['term'], left(text, 200) "
                "FROM articles WHERE id % 3 = 0 AND id % 9 = ?",
                [topic, 3 * k],
            )
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, evidence, "
            "aliases) SELECT id, CASE WHEN id % 40 = 0 THEN 'Spacety' ELSE 'Wagner Group' END, "
            "1 + id % 3, 0, left(text, 80), [] FROM articles WHERE id % 20 = 0"
        )
    wh.checkpoint()
    keep_texts(wh)  # as `newswatch init` and the writer keep them


def write_batches(path: Path, base_size: int, stop: Any, services: Any) -> list[float]:
    """Store a batch of 32 articles every 2 s until told to stop; return each batch's time."""
    base, vocab = corpus_base(services)
    wh = Warehouse(path, busy_timeout_s=120)
    rng, np_rng = random.Random(7), np.random.default_rng(7)
    with wh.connect(read_only=True) as db:  # a warehouse reused (--reuse) holds earlier batches
        next_id = max(base_size, article_store.max_article_id(db)) + 1
    times = []
    while not stop.is_set():
        batch = synthetic_articles(
            base, BATCH, next_id, rng, vocab, np_rng, services.embedder.model_name
        )
        started = time.perf_counter()
        with wh.transaction() as db:
            article_store.insert_articles(db, batch)
        times.append(time.perf_counter() - started)
        # As the ingest's writer does once a batch is committed (not counted: the file is free).
        keep_committed(path, batch)
        next_id += BATCH
        stop.wait(WRITE_EVERY_S)
    return times


def writer(path: str, base_size: int, stop: Any, results: Any, corpus: str) -> None:
    """Another process's ingest (as `newswatch run` beside a separate `newswatch serve`)."""
    from search_eval import open_corpus_warehouse as open_corpus

    services, _ = open_corpus(Path(corpus))
    results.put(write_batches(Path(path), base_size, stop, services))


def pages(size: int, queries: list[str]) -> list[tuple[str, list[str]]]:
    """The pages timed, each with the URLs requested in turn."""
    stories = [1 + 4 * k for k in range(0, min(size, 40000) // 4, 997)][:20]
    articles = [1 + 7 * k for k in range(0, min(size, 40000) // 7, 991)][:20]
    return [
        ("/", ["/"]),
        ("/?topic=", ["/?topic=sanctions", "/?topic=espionage"]),
        ("/stories/{id}", [f"/stories/{s}" for s in stories]),
        ("/articles/{id}", [f"/articles/{a}" for a in articles]),
        ("/entities/{name}", ["/entities/Spacety", "/entities/Wagner%20Group"]),
        ("/entities", ["/entities"]),
        ("/feeds", ["/feeds"]),
        ("/search?q=", [f"/search?q={q}" for q in queries]),
    ][: 7 if not queries else 8]


def measure(base_url: str, size: int, queries: list[str], requests: int) -> dict[str, list[float]]:
    """Latency samples per page (seconds), `requests` per page, one after the other; a sample
    answered from the page's reading of moments before (another process writing) is negative."""
    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for name, urls in pages(size, queries):
            samples = []
            for k in range(requests):
                t = time.perf_counter()
                r = client.get(urls[k % len(urls)])
                took = time.perf_counter() - t
                samples.append(-took if AS_OF_HEADER in r.headers else took)
                if r.status_code != 200:
                    print(f"  {name}: HTTP {r.status_code} for {urls[k % len(urls)]}")
            out[name] = samples
    return out


def report(label: str, samples: dict[str, list[float]]) -> None:
    print(f"  {label}")
    for name, signed in samples.items():
        values = [abs(v) for v in signed]
        kept = sum(v < 0 for v in signed)
        print(
            f"    {name:18} ({len(values)} requests) p50 {statistics.median(values) * 1000:6.0f} ms"
            f"   p95 {percentile(values, 95) * 1000:6.0f} ms"
            + (f"   ({kept} answered from a reading of moments before)" if kept else "")
        )


def text_store_ab(base_url: str, path: Path, queries: list[str], requests: int) -> None:
    """The search page with and without the text store beside the warehouse, alternated in
    one run (the store is moved aside and back between requests)."""
    store = TextStore(path).path
    aside = store.with_name(store.name + ".aside")
    samples: dict[bool, list[float]] = {True: [], False: []}
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for k in range(requests):
            for kept in (k % 2 == 0, k % 2 != 0):
                if not kept:
                    store.rename(aside)
                try:
                    t = time.perf_counter()
                    client.get(f"/search?q={queries[k % len(queries)]}")
                    samples[kept].append(time.perf_counter() - t)
                finally:
                    if not kept:
                        aside.rename(store)
    print("  search page, daemon idle, texts of the shown results read from:")
    for kept, label in ((True, "the text store"), (False, "the warehouse")):
        values = samples[kept]
        p50, p95 = statistics.median(values) * 1000, percentile(values, 95) * 1000
        print(f"    {label:18} ({len(values)} requests) p50 {p50:6.0f} ms   p95 {p95:6.0f} ms")


def writes(label: str, times: list[float]) -> None:
    if times:
        print(
            f"  ingest batches {label}: {len(times)} of {BATCH} articles, median "
            f"{statistics.median(times) * 1000:.0f} ms, p95 {percentile(times, 95) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms (waiting for the file included)"
        )


def run_writer(
    path: Path,
    size: int,
    corpus: Path,
    seconds: float | None,
    during: Any = None,
    services: Any = None,
) -> tuple[list[float], Any]:
    """Write batches meanwhile: in another process, or (given `services`) on a thread of this
    one, beside the pages, as `newswatch run` serves them."""
    if services is not None:
        stop_t = threading.Event()
        box: list[list[float]] = []
        thread = threading.Thread(
            target=lambda: box.append(write_batches(path, size, stop_t, services)), daemon=True
        )
        thread.start()
        time.sleep(2)
        out = during() if during is not None else time.sleep(seconds or 0)
        stop_t.set()
        thread.join(300)
        return (box[0] if box else []), out
    ctx = mp.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=writer, args=(str(path), size, stop, results, str(corpus)))
    proc.start()
    time.sleep(15)  # the writer loads the corpus and its model first
    out = during() if during is not None else time.sleep(seconds or 0)
    stop.set()
    times = results.get(timeout=300)
    proc.join(60)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000", help="warehouse sizes (articles)")
    ap.add_argument("--requests", type=int, default=30, help="requests per page")
    ap.add_argument("--corpus", type=Path, help="reuse a corpus warehouse of bench/search_eval.py")
    ap.add_argument(
        "--reuse", type=Path, help="a folder an earlier run built (one size): time its warehouse"
    )
    ap.add_argument("--idle-only", action="store_true", help="no ingest writing meanwhile")
    ap.add_argument("--no-search", action="store_true", help="leave the search page out")
    ap.add_argument(
        "--stale-s",
        type=float,
        help="[web] stale_while_writing_s for the server (0: every page waits for a write)",
    )
    ap.add_argument(
        "--writer",
        choices=("thread", "process", "both"),
        default="both",
        help="where the ingest writes: beside the pages in the server's process (as "
        "`newswatch run` serves them), in another process (a separate `newswatch serve`), or both",
    )
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    queries = [q["query"] for q in tomllib.loads(QUERIES.read_text("utf-8"))["query"]][::4]
    services, corpus = corpus_warehouse(args.corpus, "newswatch-web-corpus-")
    base, vocab = corpus_base(services)
    for size in (int(s) for s in args.sizes.split(",")):
        if args.reuse is not None:
            tmp = args.reuse
            print(f"\n{size:,} articles: the warehouse in {tmp}")
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f"newswatch-web-{size}-"))
            t0 = time.perf_counter()
            build_warehouse(tmp / "web.duckdb", size, base, vocab, services.embedder.model_name)
            print(f"\n{size:,} articles: built in {time.perf_counter() - t0:.0f} s")
        if not args.no_search and not index_paths(tmp / "web.duckdb")[0].exists():
            # The search page ranks meaning through the chunk vector index the ingest keeps.
            compact_search_index(Warehouse(tmp / "web.duckdb"))
            seconds, held, _ = save_vector_index(
                Warehouse(tmp / "web.duckdb"), services.embedder.model_name
            )
            print(f"  chunk vector index saved beside it: {held:,} chunks in {seconds:.0f} s")
        (tmp / "watchlist.toml").write_text(WATCHLIST, encoding="utf-8")
        settings = with_overrides(
            load_settings(corpus / "settings.toml", env={}),
            warehouse={"path": tmp / "web.duckdb"},
            watchlist={"file": tmp / "watchlist.toml"},
            web={"busy_wait_s": 30.0}
            | ({} if args.stale_s is None else {"stale_while_writing_s": args.stale_s}),
        )
        address = Address("127.0.0.1", 8470 + size % 1000)
        app = build(
            settings,
            Warehouse(tmp / "web.duckdb"),
            address.host,
            address.port,
            encoder=lambda: services.embedder,
            env={},
        )
        server = BackgroundServer(app, address)
        server.start()
        try:
            base_url = address.url.rstrip("/")
            httpx.get(base_url + "/search?q=warm+up", timeout=120)  # loads nothing more later
            asked = [] if args.no_search else queries
            report("daemon idle", measure(base_url, size, asked, args.requests))
            if asked:
                text_store_ab(base_url, tmp / "web.duckdb", asked, args.requests)
            if args.idle_only:
                continue
            for where in ("process", "thread") if args.writer == "both" else (args.writer,):
                own = services if where == "thread" else None
                alone, _ = run_writer(tmp / "web.duckdb", size, corpus, 40, services=own)
                busy, during = run_writer(
                    tmp / "web.duckdb",
                    size + 100000,
                    corpus,
                    None,
                    functools.partial(measure, base_url, size, asked, args.requests),
                    services=own,
                )
                report(
                    f"while an ingest writes {BATCH} articles every {WRITE_EVERY_S:g} s, "
                    + WRITERS[where],
                    during,
                )
                writes("alone", alone)
                writes("while the pages are read", busy)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
