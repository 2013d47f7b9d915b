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


def record_abandoned(
    db: Db, job: str, started_at: datetime, pid: int | None, host: str | None
) -> int:
    """Record a run that was killed before it could record itself (no finish time)."""
    return int(
        db.scalar(
            "INSERT INTO runs (job, started_at, status, error, pid, host) "
            "VALUES (?, ?, 'abandoned', ?, ?, ?) RETURNING id",
            [
                job,
                started_at,
                f"pid {pid} on {host} stopped without finishing (killed or lost "
                f"power); its work was rolled back",
                pid,
                host,
            ],
        )
    )
