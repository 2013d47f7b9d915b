"""The `runs` table: one row per job run."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

from pipeline.store.db import Db


def start_run(db: Db, job: str) -> int:
    """Record that a job started; return the run id."""
    return int(
        db.scalar(
            "INSERT INTO runs (job, started_at, status, pid, host) VALUES (?, ?, 'running', ?, ?) "
            "RETURNING id",
            [job, datetime.now(UTC), os.getpid(), socket.gethostname()],
        )
    )


def finish_run(
    db: Db, run_id: int, status: str, counts: dict[str, Any] | None = None, error: str | None = None
) -> None:
    """Record how a job ended."""
    db.execute(
        "UPDATE runs SET finished_at = ?, status = ?, counts = ?, error = ? WHERE id = ?",
        [
            datetime.now(UTC),
            status,
            json.dumps(counts or {}, default=str, sort_keys=True),
            error,
            run_id,
        ],
    )


def record_run(
    db: Db,
    job: str,
    started_at: datetime,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> int:
    """Write a finished run in one go (for jobs that open the warehouse only at the end)."""
    return int(
        db.scalar(
            "INSERT INTO runs (job, started_at, finished_at, status, counts, error, pid, host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                job,
                started_at,
                datetime.now(UTC),
                status,
                json.dumps(counts or {}, default=str, sort_keys=True),
                error,
                os.getpid(),
                socket.gethostname(),
            ],
        )
    )


def last_runs(db: Db, limit: int = 10) -> list[dict[str, Any]]:
    """The most recent runs, newest first."""
    return db.dicts(
        "SELECT id, job, started_at, finished_at, status, counts, error FROM runs "
        "ORDER BY started_at DESC, id DESC LIMIT ?",
        [limit],
    )


#: Which stored articles a job's batches write, for the jobs that commit batch by batch.
_ARTICLES_OF = {
    "ingest": "source = 'feed' AND archive_source IS NULL",
    "backfill": "archive_source IS NOT NULL",
}


def record_abandoned(
    db: Db, job: str, started_at: datetime, pid: int | None, host: str | None
) -> int | None:
    """Record a run that was killed before it could record itself (no finish time), once: the
    same run found again (in another lock it held) is not recorded twice. Its batches
    committed before it died are kept, and the row says how many articles they stored.
    Returns the new row's id, or None when the run was recorded already."""
    if db.scalar(
        "SELECT count(*) FROM runs WHERE status = 'abandoned' AND job = ? AND started_at = ? "
        "AND pid IS NOT DISTINCT FROM ? AND host IS NOT DISTINCT FROM ?",
        [job, started_at, pid, host],
    ):
        return None
    counts: dict[str, Any] = {}
    kept = "what it committed before it stopped is kept"
    where = _ARTICLES_OF.get(job)
    if where is not None:
        # An article's created_at is the start of the transaction that stored it; between this
        # run's start and now no other run of the job wrote (it held the lock, then the next
        # holder finds its record first).
        stored = int(
            db.scalar(
                f"SELECT count(*) FROM articles WHERE {where} AND created_at >= ?", [started_at]
            )
            or 0
        )
        counts["stored"] = stored
        noun = "article" if stored == 1 else "articles"
        kept = f"its committed batches ({stored} {noun} stored) are kept"
    return int(
        db.scalar(
            "INSERT INTO runs (job, started_at, status, counts, error, pid, host) "
            "VALUES (?, ?, 'abandoned', ?, ?, ?, ?) RETURNING id",
            [
                job,
                started_at,
                json.dumps(counts, sort_keys=True) if counts else None,
                f"pid {pid} on {host} stopped without finishing (killed or lost power); "
                f"{kept}; only its unfinished transaction was rolled back",
                pid,
                host,
            ],
        )
    )
