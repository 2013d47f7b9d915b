"""The client side of a backfill, the only writer: archive files in, stored articles out.

For each file, in the order given (Common Crawl names its news WARCs by crawl time, so name
order is time order): skip it when it is recorded as done and unchanged; else have a worker read,
extract, prefilter and embed it; sort what came back by publication time; drop pages whose
canonical URL is stored already (a rerun after a crash stores nothing twice); and hand the rest,
in batches, to the ingest writer, which deduplicates against the seeds and the warehouse and
tags exactly as ingest does. The file is recorded as done in the transaction of its last batch
(pipeline/backfill/writing.py).

The writer lock is taken per batch, not per run: a backfill runs for hours, and the daemon's
cycles and other jobs write between its batches; analysts read between its transactions. Alerts
are not raised for archive articles: they are history, not news to act on now.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from pipeline.app.jobs import JobResult, record, writer_lock
from pipeline.backfill.cluster import make_executor
from pipeline.backfill.prefilter import load_spec
from pipeline.backfill.sources import ArchiveFile, describe, expand
from pipeline.backfill.summary import BackfillSummary
from pipeline.backfill.worker import WorkerJob, use_embedder
from pipeline.backfill.writing import store_file
from pipeline.config.settings import Settings
from pipeline.embed.factory import model_cache_dir
from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.ingest.upkeep import sync_seeds_if_changed
from pipeline.ingest.writer import Writer
from pipeline.store import backfill as backfill_store

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What a backfill reports while it runs (the CLI draws a bar)."""

    def begin(self, files: int, total_bytes: int) -> None:
        """The files to read and their total size."""

    def file_done(self, size: int, pages: int) -> None:
        """One more file finished, with its size and HTML pages."""


@dataclass(frozen=True)
class BackfillOptions:
    """How a backfill runs (the CLI's options)."""

    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False
    workers: int | None = None  # None: one per core; 0: in this process
    scheduler: str | None = None  # an existing Dask scheduler's address


def run_backfill(
    services: Services,
    sources: list[str],
    options: BackfillOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    lock_wait_s: float = 600.0,
) -> BackfillSummary:
    """Backfill the archive files SOURCES name; records the run in `runs` unless a dry run.
    One backfill at a time per warehouse (its own lock, held for the run; a backfill killed
    while holding it is recorded as abandoned by the next one)."""
    if options.dry_run:
        return _run(services, sources, options, progress, cancel, lock_wait_s)
    with writer_lock(services.warehouse, "backfill", wait_s=1.0, lock="backfill"):
        return _run(services, sources, options, progress, cancel, lock_wait_s)


def _run(
    services: Services,
    sources: list[str],
    options: BackfillOptions,
    progress: Progress | None,
    cancel: threading.Event | None,
    lock_wait_s: float,
) -> BackfillSummary:
    started, t0 = datetime.now(UTC), time.perf_counter()
    summary = BackfillSummary()
    c = summary.counts
    files, unreadable = _describe_all(expand(sources))
    c["sources"] = len(files) + len(unreadable)
    summary.failed.extend(unreadable)
    c["sources_failed"] = len(unreadable)
    if not options.dry_run:
        with writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s):
            services.warehouse.migrate()
            sync_seeds_if_changed(services)
    done = _finished(services, [f.path for f in files])
    todo = [f for f in files if done.get(f.path) != f.key]
    c["sources_skipped"] = len(files) - len(todo)
    job = _worker_job(services.settings, options)
    if options.workers == 0 and not options.scheduler:
        use_embedder(job.embed, services.embedder)  # one model in this process
    if progress is not None:
        progress.begin(len(todo), sum(f.size or 0 for f in todo))
    try:
        if todo:
            _read_files(services, todo, job, options, summary, progress, cancel, lock_wait_s)
    finally:
        summary.seconds = time.perf_counter() - t0
        if not options.dry_run and services.warehouse.exists():
            status, error = _ending(summary)
            record(
                services.warehouse,
                JobResult(
                    "backfill",
                    status,
                    started,
                    summary.seconds,
                    {**c, "seconds": round(summary.seconds, 1)},
                    error,
                ),
            )
    return summary


def _worker_job(settings: Settings, options: BackfillOptions) -> WorkerJob:
    """What every file's task needs: the embed settings (with the ONNX graphs' folder said
    explicitly), the prefilter, the time window."""
    embed = settings.embed
    if not embed.cache_dir:  # where make_embedder keeps the ONNX graphs, said explicitly
        embed = replace(embed, cache_dir=str(model_cache_dir(settings)))
    return WorkerJob(
        embed,
        load_spec(
            settings.topics.file,
            settings.watchlist.file,
            settings.seeds.dir,
            enabled=settings.backfill.prefilter != "none",
        ),
        since=options.since,
        until=options.until,
        embed_pages=not options.dry_run,
        max_body_bytes=settings.http.max_body_bytes,
    )


def _read_files(
    services: Services,
    todo: list[ArchiveFile],
    job: WorkerJob,
    options: BackfillOptions,
    summary: BackfillSummary,
    progress: Progress | None,
    cancel: threading.Event | None,
    lock_wait_s: float,
) -> None:
    """Have the workers read the files and store what each gave, file by file in order."""
    writer = Writer(services, cancel=cancel)
    executor = make_executor(
        options.workers, options.scheduler, services.settings.backfill.files_per_worker
    )
    summary.counts["workers"] = executor.workers
    by_path = {f.path: f for f in todo}
    try:
        for result in executor.results([f.path for f in todo], job):
            if cancel is not None and cancel.is_set():
                summary.interrupted = True
                break
            file = by_path[result.path]
            store_file(services, writer, file, result, options.dry_run, summary, lock_wait_s)
            if progress is not None:
                progress.file_done(file.size or 0, result.counts.get("html_pages", 0))
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        executor.close()


def _ending(summary: BackfillSummary) -> tuple[str, str | None]:
    """The run's status and error: interrupted, an error naming the files that failed, or ok."""
    if summary.interrupted:
        return "interrupted", None
    if summary.failed:
        return (
            "error",
            f"{len(summary.failed)} of {summary.counts['sources']} archive files failed: "
            + ", ".join(p for p, _ in summary.failed),
        )
    return "ok", None


def _describe_all(paths: list[str]) -> tuple[list[ArchiveFile], list[tuple[str, str]]]:
    files, bad = [], []
    for path in paths:
        try:
            files.append(describe(path))
        except Exception as exc:  # a missing or unreadable file fails alone
            bad.append((path, f"cannot read: {type(exc).__name__}: {exc}"))
    return files, bad


def _finished(services: Services, paths: list[str]) -> dict[str, tuple]:
    if not services.warehouse.exists():
        return {}
    try:
        with services.warehouse.connect(read_only=True) as db:
            return backfill_store.finished(db, paths)
    except NewswatchError:
        raise
    except Exception:  # a dry run on a warehouse not migrated yet: nothing finished
        return {}
