"""The client side of a backfill, the only writer: archive files in, stored articles out.

For each file, in the order given (Common Crawl names its news WARCs by crawl time, so name
order is time order): skip it when it is recorded as done and unchanged; else have a worker read,
extract, prefilter and embed it; sort what came back by publication time; drop pages whose
canonical URL is stored already (a rerun after a crash stores nothing twice); and hand the rest,
in batches, to the ingest writer, which deduplicates against the seeds and the warehouse and
tags exactly as ingest does. The file is recorded as done in the transaction of its last batch.

The writer lock is taken per batch, not per run: a backfill runs for hours, and the daemon's
cycles and other jobs write between its batches; analysts read between its transactions. Alerts
are not raised for archive articles: they are history, not news to act on now.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.app.jobs import JobResult, record, writer_lock
from pipeline.backfill.cluster import make_executor
from pipeline.backfill.prefilter import load_spec
from pipeline.backfill.sources import ArchiveFile, describe, expand
from pipeline.backfill.worker import FileResult, WorkerJob, from_arrow, use_embedder
from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.ingest.writer import BatchNotWrittenError, Writer
from pipeline.models import ArticleDraft, Embedding
from pipeline.store import articles as article_store
from pipeline.store import backfill as backfill_store

log = logging.getLogger(__name__)

#: Pages listed by a dry run's summary (the counts cover all).
DRY_RUN_LIST = 200


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


@dataclass
class BackfillSummary:
    """What one backfill did."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "sources",
                "sources_done",
                "sources_failed",
                "sources_skipped",
                "records",
                "html_pages",
                "bad_records",
                "extracted",
                "in_window",
                "passed_prefilter",
                "known_urls",
                "stored",
                "duplicates",
                "workers",
            ),
            0,
        )
    )
    failed: list[tuple[str, str]] = field(default_factory=list)
    would_store: list[tuple[ArticleDraft, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


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
    settings = services.settings
    started, t0 = datetime.now(UTC), time.perf_counter()
    summary = BackfillSummary()
    c = summary.counts
    files, unreadable = _describe_all(expand(sources))
    c["sources"] = len(files) + len(unreadable)
    for path, error in unreadable:
        summary.failed.append((path, error))
    c["sources_failed"] = len(unreadable)
    if not options.dry_run:
        with writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s):
            services.warehouse.migrate()
            from pipeline.ingest.upkeep import sync_seeds_if_changed

            sync_seeds_if_changed(services)
    done = _finished(services, [f.path for f in files])
    todo = [f for f in files if done.get(f.path) != f.key]
    c["sources_skipped"] = len(files) - len(todo)
    embed = settings.embed
    if not embed.cache_dir:  # where make_embedder keeps the ONNX graphs, said explicitly
        embed = replace(embed, cache_dir=str(settings.warehouse.path.parent / "model-cache"))
    job = WorkerJob(
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
    )
    if options.workers == 0 and not options.scheduler:
        use_embedder(embed, services.embedder)  # one model in this process
    if progress is not None:
        progress.begin(len(todo), sum(f.size or 0 for f in todo))
    status, error = "ok", None
    executor = None
    writer = Writer(services, cancel=cancel)
    try:
        if todo:
            executor = make_executor(
                options.workers, options.scheduler, settings.backfill.files_per_worker
            )
            c["workers"] = executor.workers
            by_path = {f.path: f for f in todo}
            for result in executor.results([f.path for f in todo], job):
                if cancel is not None and cancel.is_set():
                    summary.interrupted = True
                    break
                _one_file(
                    services, writer, by_path[result.path], result, options, summary, lock_wait_s
                )
                if progress is not None:
                    progress.file_done(
                        by_path[result.path].size or 0, result.counts.get("html_pages", 0)
                    )
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        if executor is not None:
            executor.close()
        summary.seconds = time.perf_counter() - t0
        if summary.interrupted:
            status, error = "interrupted", None
        elif summary.failed:
            status = "error"
            error = f"{len(summary.failed)} of {c['sources']} archive files failed: " + ", ".join(
                p for p, _ in summary.failed
            )
        if not options.dry_run and services.warehouse.exists():
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


def _one_file(
    services: Services,
    writer: Writer,
    file: ArchiveFile,
    result: FileResult,
    options: BackfillOptions,
    summary: BackfillSummary,
    lock_wait_s: float,
) -> None:
    c = summary.counts
    counts = result.counts
    for key, name in (
        ("records", "records"),
        ("html_pages", "html_pages"),
        ("bad_records", "bad_records"),
        ("extracted", "extracted"),
        ("in_window", "in_window"),
        ("passed", "passed_prefilter"),
    ):
        c[name] += counts.get(key, 0)
    if result.problems:
        log.warning(
            "%s: %d bad records skipped (%s)",
            file.path,
            counts.get("bad_records", 0),
            result.problems[0],
        )
    if result.error is not None:
        _failed(services, file, result.error, summary, options, lock_wait_s)
        return
    drafts, embeddings, why = from_arrow(result.table, file.path)
    # Deduplication runs in publication order within a file (files come in name order).
    order = sorted(
        range(len(drafts)), key=lambda i: (drafts[i].published_at or drafts[i].fetched_at, i)
    )
    seen: set[str] = set()
    keep = []
    for i in order:
        url = drafts[i].canonical_url or drafts[i].url
        if url in seen:
            c["known_urls"] += 1
            continue
        seen.add(url)
        keep.append(i)
    if options.dry_run:
        _dry_run(services, drafts, why, keep, summary)
        c["sources_done"] += 1
        return
    try:
        _write(services, writer, file, drafts, embeddings, keep, counts, summary, lock_wait_s)
    except BatchNotWrittenError as exc:
        _failed(services, file, str(exc), summary, options, lock_wait_s)
        return
    c["sources_done"] += 1


def _dry_run(
    services: Services,
    drafts: list[ArticleDraft],
    why: list[str],
    keep: list[int],
    summary: BackfillSummary,
) -> None:
    known: dict[str, int] = {}
    if services.warehouse.exists():
        with services.warehouse.connect(read_only=True) as db:
            known = article_store.existing_canonical_urls(
                db, [drafts[i].canonical_url for i in keep]
            )
    for i in keep:
        if drafts[i].canonical_url in known:
            summary.counts["known_urls"] += 1
        else:
            summary.counts["stored"] += 1  # would be stored (duplicates are not decided)
            if len(summary.would_store) < DRY_RUN_LIST:
                summary.would_store.append((drafts[i], why[i]))


def _write(
    services: Services,
    writer: Writer,
    file: ArchiveFile,
    drafts: list[ArticleDraft],
    embeddings: list[Embedding] | None,
    keep: list[int],
    counts: dict[str, int],
    summary: BackfillSummary,
    lock_wait_s: float,
) -> None:
    size = services.settings.backfill.batch_size
    batches = [keep[k : k + size] for k in range(0, len(keep), size)] or [[]]
    totals = {**counts, "stored": 0, "duplicates": 0}
    for n, batch in enumerate(batches):
        last = n == len(batches) - 1
        with writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s):
            with services.warehouse.connect(read_only=True) as db:
                services.refresh(db)
                writer.start(db)
                known = article_store.existing_canonical_urls(
                    db, [drafts[i].canonical_url for i in batch]
                )
            fresh = [i for i in batch if drafts[i].canonical_url not in known]
            summary.counts["known_urls"] += len(batch) - len(fresh)

            def mark_done(db: Any, stored: Any, last: bool = last) -> None:
                if last:
                    backfill_store.record(
                        db,
                        file.path,
                        file.key,
                        "done",
                        {
                            **totals,
                            "stored": totals["stored"] + len(stored),
                            "duplicates": totals["duplicates"]
                            + sum(a.dedup.duplicate_of is not None for a in stored),
                        },
                    )

            if fresh:
                stored = writer.store(
                    [drafts[i] for i in fresh],
                    mark_done,
                    embeddings=[embeddings[i] for i in fresh] if embeddings is not None else None,
                )
            else:
                stored = []
                with services.warehouse.transaction() as db:
                    mark_done(db, stored)
        dups = sum(a.dedup.duplicate_of is not None for a in stored)
        log.debug(
            "backfill batch written: %d articles (%d duplicates) from %s%s",
            len(stored),
            dups,
            file.path,
            ", file done" if last else "",
        )
        totals["stored"] += len(stored)
        totals["duplicates"] += dups
        summary.counts["stored"] += len(stored)
        summary.counts["duplicates"] += dups


def _failed(
    services: Services,
    file: ArchiveFile,
    error: str,
    summary: BackfillSummary,
    options: BackfillOptions,
    lock_wait_s: float,
) -> None:
    log.warning("%s: skipped: %s", file.path, error)
    summary.failed.append((file.path, error))
    summary.counts["sources_failed"] += 1
    if options.dry_run:
        return
    try:
        with writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s):
            with services.warehouse.transaction() as db:
                backfill_store.record(db, file.path, file.key, "failed", {}, error)
    except NewswatchError as exc:
        log.warning("could not record the failure of %s: %s", file.path, exc)
