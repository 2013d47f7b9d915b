"""The `backfill_sources` table: archive files a backfill finished or could not read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.store.db import Db

_COUNTS = ("records", "html_pages", "extracted", "passed", "stored", "duplicates", "bad_records")


def finished(db: Db, paths: list[str]) -> dict[str, tuple]:
    """Files recorded as done: path -> (size, version, fingerprint)."""
    if not paths:
        return {}
    return {
        p: (size, version, fp)
        for p, size, version, fp in db.rows(
            "SELECT path, size, version, fingerprint FROM backfill_sources "
            "WHERE status = 'done' AND path IN (SELECT unnest(?))",
            [paths],
        )
    }


def record(
    db: Db, path: str, key: tuple, status: str, counts: Mapping[str, Any], error: str | None = None
) -> None:
    """Record how a file ended (replacing an earlier record of the same path)."""
    size, version, fingerprint = key
    db.execute("DELETE FROM backfill_sources WHERE path = ?", [path])
    db.execute(
        f"INSERT INTO backfill_sources (path, size, version, fingerprint, status, "
        f"{', '.join(_COUNTS)}, error, finished_at) VALUES "
        f"({', '.join('?' * (7 + len(_COUNTS)))})",
        [
            path,
            size,
            version,
            fingerprint,
            status,
            *(int(counts.get(c, 0)) for c in _COUNTS),
            error,
            datetime.now(UTC),
        ],
    )


def sources(db: Db) -> list[dict[str, Any]]:
    """Every recorded file, newest first."""
    return db.dicts("SELECT * FROM backfill_sources ORDER BY finished_at DESC, path")
