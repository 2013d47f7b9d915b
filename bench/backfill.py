"""Backfill throughput and the prefilter's pass rate and recall.

    PYTHONPATH=. .venv/bin/python bench/backfill.py [--records 2000] [--files 8] [--skip-runs]

1. WARC readers: records/s of fastwarc and warcio over the same files (reading and gunzip).
2. The 181 shared news pages repeated to --records records across --files WARC files (written
   with warcio, gzip per record, each repeat under its own URL), backfilled into a fresh
   warehouse by a LocalCluster of 1 worker and of 2 workers, in this one run: pages/s of each
   (wall clock of the whole backfill, cluster start included) and their ratio.
3. Prefilter: pass rate on the 181 pages; recall = the share of texts the full pipeline tags
   with a topic or finds on-topic (relevance >= [topics] min_relevance) that pass, on the seeds,
   the topic development set (bench/data/topics_dev.toml) and the 181 pages.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.backfill.prefilter import Prefilter, load_spec  # noqa: E402
from pipeline.backfill.warc import WarcPage  # noqa: E402
from pipeline.backfill.worker import page_draft  # noqa: E402
from pipeline.config.settings import load_settings  # noqa: E402
from pipeline.testkit import SHARED  # noqa: E402
from pipeline.testkit.corpus import load_pages  # noqa: E402
from pipeline.testkit.warcs import Record, write_warc  # noqa: E402

NEWS_PAGES = SHARED / "corpus" / "news-pages"


def write_archives(folder: Path, pages, records: int, files: int) -> list[Path]:
    """`records` copies of the pages, spread over `files` WARC files, each under its own URL."""
    per_file = -(-records // files)
    out = []
    for f in range(files):
        recs = []
        for k in range(f * per_file, min(records, (f + 1) * per_file)):
            page = pages[k % len(pages)]
            sep = "&" if "?" in page.url else "?"
            recs.append(Record(f"{page.url}{sep}copy={k // len(pages)}", page.html))
        out.append(write_warc(folder / f"CC-NEWS-{f:05d}.warc.gz", recs))
    return out


def reader_speed(paths: list[Path]) -> None:
    """Records/s of fastwarc and warcio over the same files."""
    from fastwarc.warc import ArchiveIterator as FastIterator
    from fastwarc.warc import WarcRecordType
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator

    def fast(path: Path) -> int:
        n = 0
        with open(path, "rb") as f:
            for rec in FastIterator(f, record_types=WarcRecordType.response, parse_http=True):
                rec.reader.read()
                n += 1
        return n

    def warcio(path: Path) -> int:
        n = 0
        with open(path, "rb") as f:
            for rec in WarcioIterator(f):
                if rec.rec_type == "response":
                    rec.content_stream().read()
                    n += 1
        return n

    for name, read in (("fastwarc", fast), ("warcio", warcio)):
        t0 = time.perf_counter()
        n = sum(read(p) for p in paths)
        dt = time.perf_counter() - t0
        print(f"  {name:9} {n} records in {dt:.2f} s: {n / dt:,.0f} records/s")


class PeakRss:
    """Samples the resident memory of this process and its descendants (the Dask cluster's
    nannies and workers) in a thread: the peak of this process, of its largest descendant and
    of their sum, in MB."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.own = self.child = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            own = me.memory_info().rss / 2**20
            children = []
            for child in me.children(recursive=True):
                try:
                    children.append(child.memory_info().rss / 2**20)
                except psutil.Error:  # ended between the listing and the reading
                    continue
            self.own = max(self.own, own)
            self.child = max([self.child, *children])
            self.total = max(self.total, own + sum(children))
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def throughput(folder: Path, workers: int, tmp: Path) -> tuple[float, dict]:
    """Pages/s of a whole backfill of `folder` on a LocalCluster of `workers` workers."""
    from pipeline.backfill.run import BackfillOptions, run_backfill
    from pipeline.ingest import Services

    settings = load_settings(env={}, warehouse=tmp / f"bench-{workers}.duckdb")
    services = Services(settings)
    services.warehouse.migrate()
    from pipeline.ingest.upkeep import sync_seeds

    sync_seeds(services)
    t0 = time.perf_counter()
    with PeakRss() as rss:
        summary = run_backfill(services, [str(folder)], BackfillOptions(workers=workers))
    dt = time.perf_counter() - t0
    peaks = {"rss_writer": rss.own, "rss_worker": rss.child, "rss_total": rss.total}
    return summary.counts["html_pages"] / dt, {**summary.counts, "seconds": round(dt, 1), **peaks}


def recall(settings) -> None:
    """Pass rate and recall of the prefilter against the full tagger."""
    from pipeline.embed.english import Embedder
    from pipeline.models import Chunk, Embedding
    from pipeline.tag.seeds import load_seeds
    from pipeline.tag.topics import build_tagger
    from pipeline.testkit.embedcache import embed_cached

    embedder = Embedder()

    def embed(texts: list[str]) -> list[Embedding]:
        cached = embed_cached(embedder, texts)
        return [
            Embedding(
                embedder.model_name,
                cached[t][0],
                tuple(
                    Chunk(s.start_char, s.end_char, s.tokens, c)
                    for s, c in zip(embedder.spans(t), cached[t][1], strict=False)
                ),
            )
            for t in texts
        ]

    seeds = load_seeds(settings.seeds.dir)
    seed_emb = embed([s.text for s in seeds])
    tagger = build_tagger(
        settings.topics,
        settings.seeds.dir,
        embedder,
        np.stack([e.vector for e in seed_emb]),
        np.stack([c.vector for e in seed_emb for c in e.chunks]),
    )
    prefilter = Prefilter(
        load_spec(settings.topics.file, settings.watchlist.file, settings.seeds.dir)
    )
    dev = tomllib.loads((ROOT / "bench" / "data" / "topics_dev.toml").read_text())["item"]
    pages = []
    for page in load_pages(NEWS_PAGES):
        draft = page_draft(WarcPage(page.url, None, None, "text/html", page.html))
        if draft is not None:
            pages.append((draft.title, draft.text))
    sets = {
        "seeds": [(s.title, s.text) for s in seeds],
        "topics_dev": [("", d["text"]) for d in dev],
        "181 pages": pages,
    }
    for name, items in sets.items():
        embs = embed([t for _, t in items])
        relevant = passed = relevant_passed = tagged = tagged_passed = 0
        for (title, text), emb in zip(items, embs, strict=False):
            result = tagger.tag(title, text, emb)
            is_relevant = bool(result.topics) or result.on_topic
            ok = prefilter.reason(title, text) is not None
            relevant += is_relevant
            passed += ok
            relevant_passed += is_relevant and ok
            tagged += bool(result.topics)
            tagged_passed += bool(result.topics) and ok
        share = f"{relevant_passed / relevant:.3f}" if relevant else "n/a"
        tag_share = f"{tagged_passed / tagged:.3f}" if tagged else "n/a"
        print(
            f"  {name:11} {len(items):4} texts: pass rate {passed / len(items):.3f} "
            f"({passed}); recall on tagged or on-topic {share} ({relevant_passed} of "
            f"{relevant}); on tagged with a topic {tag_share} ({tagged_passed} of {tagged})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--skip-runs", action="store_true", help="prefilter figures only")
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: shared data not available beside the repository")
    settings = load_settings(env={})
    print("prefilter (topic keywords + watchlist aliases):")
    recall(settings)
    if args.skip_runs:
        return
    pages = load_pages(NEWS_PAGES)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "archives"
        folder.mkdir()
        paths = write_archives(folder, pages, args.records, args.files)
        size = sum(p.stat().st_size for p in paths)
        print(f"\n{args.records} records in {len(paths)} WARC files ({size / 1e6:.1f} MB)")
        print("WARC readers:")
        reader_speed(paths)
        print("backfill (LocalCluster, same files, fresh warehouse each):")
        rates = {}
        for workers in (1, 2):
            rate, counts = throughput(folder, workers, tmp)
            rates[workers] = rate
            print(
                f"  {workers} worker{'s' if workers > 1 else ''}: {rate:.1f} pages/s  "
                f"({counts['html_pages']} pages, {counts['passed_prefilter']} passed, "
                f"{counts['stored']} stored, {counts['duplicates']} duplicates, "
                f"{counts['seconds']} s); peak RSS: writing process {counts['rss_writer']:.0f} MB, "
                f"largest worker {counts['rss_worker']:.0f} MB, all {counts['rss_total']:.0f} MB"
            )
        print(f"  speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
