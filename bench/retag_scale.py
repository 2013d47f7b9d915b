"""Retag benchmark: time and peak memory of `retag` on a large warehouse, reading every article at
once against a block at a time (`pipeline/ingest/upkeep.py:retag`, `block`); and the topics'
keyword rule, each term searched by its pattern alone against its needle first.

The warehouse is built as bench/search_eval.py builds its scale warehouses (copies of the 181
shared pages with one word in ten replaced and their real chunk vectors with noise). Each way of
reading runs `retag` in a process of its own, on a copy of the same warehouse, so that one's
peak memory (the process's resident high-water mark during the retag) is not the other's; the
two are measured in one run, and the ratio is what to compare across machines.

    .venv/bin/python bench/retag_scale.py [--size 20000] [--block 1000] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from search_eval import (
    NEWS_PAGES,
    build_synthetic,
    corpus_base,
    corpus_warehouse,
)

from pipeline.config.settings import load_settings, with_overrides
from pipeline.ingest import Services
from pipeline.ingest.upkeep import retag
from pipeline.store.db import Warehouse
from pipeline.tag.topic_rule import match_terms
from pipeline.tag.topics import load_topics
from pipeline.tag.topics_file import fold


def memory_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status: the benchmark needs Linux")


def one_retag(corpus: str, path: str, block: int, out: Any) -> None:
    """Retag the warehouse at `path` in this process; put (seconds, peak MB, tags written)."""
    settings = with_overrides(
        load_settings(Path(corpus) / "settings.toml", env={}), warehouse={"path": Path(path)}
    )
    services = Services(settings)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)  # the model and the topics load before the clock starts
    base_mb = memory_mb("VmRSS")
    # The high-water mark from here on (Linux: "5" resets it). getrusage's ru_maxrss would not
    # do: a spawned child starts from its parent's, which built the warehouse.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    t0 = time.perf_counter()
    retag(services, block=block)
    seconds = time.perf_counter() - t0
    peak_mb = memory_mb("VmHWM")
    with services.warehouse.connect(read_only=True) as db:
        tags = int(db.scalar("SELECT count(*) FROM article_topics"))
    out.put((seconds, base_mb, peak_mb, tags))


def measure(corpus: Path, source: Path, block: int) -> tuple[float, float, float, int]:
    """One retag of a fresh copy of `source`, in a process of its own."""
    folder = Path(tempfile.mkdtemp(prefix="newswatch-retag-"))
    try:
        path = folder / "retag.duckdb"
        shutil.copy(source, path)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        proc = ctx.Process(target=one_retag, args=(str(corpus), str(path), block, out))
        proc.start()
        result = out.get(timeout=3600)
        proc.join(timeout=60)
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def keyword_rule(source: Path, topics_file: Path, seeds: Path, n: int = 2000) -> None:
    """The topics' keyword rule over `n` stored texts, each term searched by its pattern alone
    and by its needle first (pipeline/tag/topics_file.py: Term.found_in); the same matches?"""
    with Warehouse(source).connect(read_only=True) as db:
        texts = [t for (t,) in db.rows("SELECT text FROM articles ORDER BY id LIMIT ?", [n])]
    topics = load_topics(topics_file, seeds)
    bare = [
        dataclasses.replace(
            t,
            **{
                kind: tuple(dataclasses.replace(term, needle="") for term in getattr(t, kind))
                for kind in ("keywords", "context", "negative")
            },
        )
        for t in topics
    ]
    found, seconds = [], []
    for these in (bare, topics):
        fold.cache_clear()
        t0 = time.perf_counter()
        found.append([match_terms(t, text) for text in texts for t in these])
        seconds.append(time.perf_counter() - t0)
    print(
        f"keyword rule over {len(texts):,} texts, {len(topics)} topics: patterns alone "
        f"{seconds[0]:.2f} s, needles first {seconds[1]:.2f} s (x{seconds[0] / seconds[1]:.1f} "
        f"faster); the same matches: {'yes' if found[0] == found[1] else 'NO'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000, help="articles in the warehouse")
    ap.add_argument("--block", type=int, default=1000, help="articles read at a time")
    ap.add_argument("--corpus", type=Path, help="reuse a corpus warehouse of bench/search_eval.py")
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    services, corpus = corpus_warehouse(args.corpus, "newswatch-retag-corpus-")
    base, vocab = corpus_base(services)
    folder = Path(tempfile.mkdtemp(prefix=f"newswatch-retag-{args.size}-"))
    source = folder / "source.duckdb"
    t0 = time.perf_counter()
    wh = Warehouse(source)
    wh.migrate()
    build_synthetic(
        wh,
        args.size,
        base,
        vocab,
        services.embedder.model_name,
        random.Random(args.size),
        np.random.default_rng(args.size),
    )
    wh.checkpoint()
    print(f"{args.size:,} articles: built in {time.perf_counter() - t0:.0f} s")
    try:
        keyword_rule(source, services.settings.topics.file, services.settings.seeds.dir)
        print("reading            seconds  articles/s  resident before  peak  tags written")
        figures = {}
        for label, block in (("all at once", args.size), (f"blocks of {args.block}", args.block)):
            seconds, before, peak, tags = measure(corpus, source, block)
            figures[label] = (seconds, max(0.0, peak - before))
            print(
                f"{label:<18} {seconds:7.0f}  {args.size / seconds:10.0f}  {before:12.0f} MB"
                f"  {peak:5.0f} MB  {tags:,}",
                flush=True,
            )
        (t_all, m_all), (t_block, m_block) = figures.values()
        print(
            f"blocks against all at once: time x{t_block / t_all:.2f}; the retag raised the "
            f"process's peak by {m_block:.0f} MB against {m_all:.0f} MB"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
