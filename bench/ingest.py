"""Ingest benchmark: the 181 pages of ../shared/corpus/news-pages on loopback behind a feed whose
items carry only the first sentence; one real ingest cycle into a fresh warehouse.

Prints articles stored, precision/recall/F1 of the stored text against `articleBody` (the
benchmark's own metric, bench/scoring.py), end-to-end articles/s, seconds per stage, peak RSS,
and the overhead against extracting and embedding the same pages directly.

    .venv/bin/python bench/ingest.py
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from pipeline.extract import extract_page
from pipeline.ingest import Services, run_cycle
from pipeline.ingest.upkeep import sync_seeds
from pipeline.settings import load_settings
from pipeline.testkit.corpus import load_pages, serve
from pipeline.testkit.scoring import corpus_score
from pipeline.testkit.server import LoopbackServer

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"


def main() -> None:
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    pages = load_pages(NEWS_PAGES)
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-bench-"))
    (tmp / "feeds.toml").write_text("")
    (tmp / "settings.toml").write_text(
        f'[warehouse]\npath = "{tmp / "bench.duckdb"}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
        f'[seeds]\ndir = "{ROOT / "config" / "seeds"}"\n[topics]\nfile = "{ROOT / "config" / "topics.toml"}"\n'
        # All pages share one loopback host: the politeness delay would measure only itself.
        f'[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\n')
    settings = load_settings(tmp / "settings.toml", env={})
    pipe = Services(settings)
    pipe.warehouse.migrate()
    t0 = time.perf_counter()
    sync_seeds(pipe)  # loads the model and the seed corpus: not part of the cycle
    print(f"model load + seed corpus: {time.perf_counter() - t0:.1f} s")

    with LoopbackServer() as server:
        feed = serve(server, pages)
        (tmp / "feeds.toml").write_text(f'[[feeds]]\nurl = "{feed}"\n')
        started = time.perf_counter()
        summary = run_cycle(pipe)
        wall = time.perf_counter() - started
        urls = {server.url(f"/page/{p.key}.html"): p for p in pages}
    with pipe.warehouse.connect(read_only=True) as db:
        stored = dict(db.rows("SELECT url, text FROM articles WHERE source = 'feed'"))
    pairs = [(stored.get(url, ""), page.body) for url, page in urls.items()]
    precision, recall, f1 = corpus_score(pairs)

    # The same work done directly: extract every page, embed every text in batches.
    t1 = time.perf_counter()
    texts = [(extract_page(p.html, p.url) or None) for p in pages]
    t2 = time.perf_counter()
    pipe.embedder.embed([t.text for t in texts if t is not None])
    t3 = time.perf_counter()
    direct = t3 - t1

    print(f"articles stored: {summary.articles_new} of {len(pages)} "
          f"({summary.from_page} from page, {summary.from_feed} from feed, "
          f"{summary.duplicates} duplicates)")
    print(f"stored text vs articleBody: precision {precision:.4f}  recall {recall:.4f}  "
          f"F1 {f1:.4f}")
    print(f"end to end: {wall:.1f} s, {summary.articles_new / wall:.1f} articles/s")
    stages = "  ".join(f"{k} {v:.1f}s" for k, v in summary.stage_s.items())
    print(f"stage seconds (pages = fetching and extracting, wall clock; extract = CPU time in "
          f"extraction; embed and write run on the writer thread meanwhile): {stages}")
    print(f"direct extract {t2 - t1:.1f} s + embed {t3 - t2:.1f} s = {direct:.1f} s; "
          f"pipeline / direct = {wall / direct:.2f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
