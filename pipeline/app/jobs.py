"""The jobs the daemon schedules and the CLI runs by hand: each one holds the writer lock, records
a `runs` row and logs one readable line with its counts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.app.learning import train_before_cycle, train_changed
from pipeline.app.lock import job_lock
from pipeline.config.settings import Settings
from pipeline.dedup.overlap import check_overlaps
from pipeline.digest.deliver import deliver_digest
from pipeline.errors import NewswatchError
from pipeline.ingest import CycleSummary, Reporter, Services, run_cycle
from pipeline.ingest.rebuild import rebuild_dedup
from pipeline.ingest.upkeep import (
    compact_search_index,
    index_for_search,
    keep_texts,
    retag,
    sync_seeds,
    sync_seeds_if_changed,
)
from pipeline.store import feeds as feed_store
from pipeline.store import runs as run_store
from pipeline.store.db import Warehouse
from pipeline.store.dedup import duplicates_with_originals

log = logging.getLogger(__name__)


#: What a job's body returns: status, counts, its own summary object, error.
Outcome = tuple[str, dict[str, Any], Any, str | None]


@dataclass(frozen=True)
class JobResult:
    """How one job run ended."""

    job: str
    status: str  # ok | error | interrupted
    started_at: datetime
    seconds: float
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    detail: Any = None  # the job's own summary object (CycleSummary, ...)


def _summary_line(job: str, counts: dict[str, Any]) -> str:
    if job == "ingest":
        topics = ", ".join(f"{k}={v}" for k, v in counts.get("per_topic", {}).items()) or "none"
        return (
            f"{counts.get('feeds_polled', 0)} feeds polled "
            f"({counts.get('feeds_failed', 0)} failed, "
            f"{counts.get('feeds_not_modified', 0)} unchanged), "
            f"{counts.get('entries_seen', 0)} entries, {counts.get('new_entries', 0)} new, "
            f"{counts.get('articles_new', 0)} articles stored "
            f"({counts.get('from_page', 0)} from page, {counts.get('from_feed', 0)} from feed), "
            f"{counts.get('duplicates', 0)} duplicates; topics: {topics}"
            + (
                f"; alerts: {counts.get('alerts_raised', 0)} raised, "
                f"{counts.get('alerts_sent', 0)} delivered, "
                f"{counts.get('alerts_failed', 0)} failed"
                if any(counts.get(k) for k in ("alerts_raised", "alerts_sent", "alerts_failed"))
                else ""
            )
        )
    if job == "retag":
        changes = [
            f"{prefix}{name}: {c['added']} added, {c['removed']} removed"
            for prefix, key in (("", "topics"), ("entity ", "entities"))
            for name, c in counts.get(key, {}).items()
        ]
        return "; ".join(changes) or "no tag changed"
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "done"


def record(warehouse: Warehouse, result: JobResult) -> None:
    """Write the `runs` row of a finished job (the warehouse is opened only for this)."""
    try:
        with warehouse.transaction() as db:
            run_store.record_run(
                db, result.job, result.started_at, result.status, result.counts, result.error
            )
    except NewswatchError as exc:
        log.warning("could not record the %s run: %s", result.job, exc)


def _record_abandoned(warehouse: Warehouse, info: dict[str, Any]) -> None:
    try:
        started = datetime.fromisoformat(info["since"])
    except (KeyError, TypeError, ValueError):
        started = datetime.now(UTC)
    job = str(info.get("what") or "unknown")
    log.warning(
        "the %s job started at %s (pid %s) ended without finishing; recorded as abandoned",
        job,
        started.isoformat(timespec="seconds"),
        info.get("pid"),
    )
    if not warehouse.exists():
        return
    try:
        with warehouse.transaction() as db:
            run_store.record_abandoned(db, job, started, info.get("pid"), info.get("host"))
    except Exception as exc:  # an old schema or a busy file: the log line stays
        log.warning("could not record the abandoned %s run: %s", job, exc)


@contextmanager
def writer_lock(
    warehouse: Warehouse,
    job: str,
    wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    lock: str = "job",
) -> Iterator[None]:
    """Hold the warehouse's writer lock (or the lock named `lock`) for a job; a job killed
    while holding it is recorded in `runs` as abandoned first."""
    with job_lock(warehouse.path, job, wait_s=wait_s, on_wait=on_wait, name=lock) as abandoned:
        if abandoned:
            _record_abandoned(warehouse, abandoned)
        yield


def _run(
    job: str,
    warehouse: Warehouse,
    body: Callable[[], Outcome],
    lock_wait_s: float,
    reraise: bool = False,
) -> JobResult:
    """Run a job's body under the writer lock, record its `runs` row and log its line; with
    `reraise` (a command run by hand) an exception the body raised is raised again after that,
    so the command fails with the body's own message and exit code."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    failure: Exception | None = None
    try:
        with writer_lock(
            warehouse,
            job,
            wait_s=lock_wait_s,
            on_wait=lambda who: log.info("%s waits: %s is writing", job, who),
        ):
            status, counts, detail, error = body()
    except NewswatchError as exc:
        status, counts, detail, error = "error", {}, None, str(exc)
        failure = exc
    except Exception as exc:  # a bug must not kill the daemon; the run row keeps the reason
        log.exception("%s failed", job)
        status, counts, detail, error = "error", {}, None, f"{type(exc).__name__}: {exc}"
        failure = exc
    result = JobResult(job, status, started, time.perf_counter() - t0, counts, error, detail)
    if warehouse.exists():
        record(warehouse, result)
    line = _summary_line(job, counts) if status != "error" else error
    # A failed job (an invalid feeds file, a full disk) is an error an operator must see.
    log.log(
        logging.ERROR if status == "error" else logging.INFO,
        "%s %s in %.1f s: %s",
        job,
        status,
        result.seconds,
        line,
        extra={"job": job, "status": status, "seconds": round(result.seconds, 3), "counts": counts},
    )
    if reraise and failure is not None:
        raise failure
    return result


def ingest_job(
    services: Services,
    *,
    feeds: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
    lock_wait_s: float = 600.0,
    setup: bool = False,
) -> JobResult:
    """One ingest cycle as a job; `setup` first migrates the warehouse and loads the seeds (a
    command run by hand), else only edited seed files are reloaded (the daemon did the rest)."""

    def body() -> Outcome:
        if setup:
            services.warehouse.migrate()
            sync_seeds(services)
        else:
            sync_seeds_if_changed(services)
        train_before_cycle(services)  # topics whose marks changed learn before tagging
        summary: CycleSummary = run_cycle(services, feeds=feeds, reporter=reporter, cancel=cancel)
        status = "interrupted" if summary.interrupted else "ok"
        return status, summary.counts(), summary, None

    return _run("ingest", services.warehouse, body, lock_wait_s)


def digest_job(
    settings: Settings,
    warehouse: Warehouse,
    *,
    week: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    lock_wait_s: float = 600.0,
) -> JobResult:
    """Build and deliver a week's digest as a job (already-sent weeks are left alone)."""

    def body() -> Outcome:
        outcome = deliver_digest(settings, warehouse, week=week, force=force, now=now)
        status = "error" if outcome.status == "failed" else "ok"
        counts = {
            "week": outcome.week,
            "outcome": outcome.status,
            **({"stories": outcome.counts} if getattr(outcome, "counts", None) else {}),
        }
        return status, counts, outcome, outcome.error if status == "error" else None

    return _run("digest", warehouse, body, lock_wait_s)


def maintenance_job(
    settings: Settings,
    warehouse: Warehouse,
    *,
    now: datetime | None = None,
    lock_wait_s: float = 600.0,
) -> JobResult:
    """Prune old feed_polls rows, bring the full-text index up to date and sorted and the text
    store up to date, and checkpoint the warehouse."""

    def body() -> Outcome:
        cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.schedule.poll_retention_days)
        with warehouse.transaction() as db:
            pruned = feed_store.prune_polls(db, cutoff)
        indexed = index_for_search(warehouse)
        sorted_in = compact_search_index(warehouse)
        texts_kept = keep_texts(warehouse)
        warehouse.checkpoint()
        return (
            "ok",
            {
                "polls_pruned": pruned,
                "search_indexed": indexed,
                "search_compacted": sorted_in,
                "texts_kept": texts_kept,
                "checkpoint": True,
            },
            None,
            None,
        )

    return _run("maintenance", warehouse, body, lock_wait_s)


def rebuild_job(
    services: Services,
    *,
    progress: Callable[[int, int], None] | None = None,
    lock_wait_s: float = 60.0,
) -> JobResult:
    """`dedup --rebuild` as a job: every stored article's duplicate and story decision made
    again with the current thresholds; its counts say how many changed. Errors are raised
    after the run is recorded."""

    def body() -> Outcome:
        services.warehouse.check_current()
        stats = rebuild_dedup(services, progress)
        return "ok", stats, stats, None

    return _run("dedup_rebuild", services.warehouse, body, lock_wait_s, reraise=True)


def verify_job(settings: Settings, warehouse: Warehouse, *, lock_wait_s: float = 60.0) -> JobResult:
    """`dedup --verify` as a job: check that every stored duplicate overlaps the article its
    duplicate_of names, with the current [dedup] settings. Violations make the run an error
    (its detail is the check's result); other errors are raised after the run is recorded."""

    def body() -> Outcome:
        warehouse.check_current()
        with warehouse.connect(read_only=True, wait_s=30) as db:
            result = check_overlaps(duplicates_with_originals(db), settings.dedup)
        counts = {"checked": result.checked, "violations": len(result.violations)}
        if not result.violations:
            return "ok", counts, result, None
        return (
            "error",
            counts,
            result,
            f"{len(result.violations)} of {result.checked} duplicates do not overlap the "
            f"article their duplicate_of names (`newswatch dedup --rebuild` recomputes them)",
        )

    return _run("dedup_verify", warehouse, body, lock_wait_s, reraise=True)


def retag_job(
    services: Services,
    *,
    progress: Callable[[int, int], None] | None = None,
    lock_wait_s: float = 60.0,
) -> JobResult:
    """`retag` as a job: the topics whose marks changed learn first, then every stored article
    is re-scored against the topics file and re-scanned for the watchlist; its counts are the
    tags and entity matches added and removed. Errors are raised after the run is recorded."""

    def body() -> Outcome:
        services.warehouse.check_current()
        train_changed(services)
        changes = retag(services, progress)
        return "ok", {"topics": changes.topics, "entities": changes.entities}, changes, None

    return _run("retag", services.warehouse, body, lock_wait_s, reraise=True)
