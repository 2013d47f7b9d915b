"""The `feed_entries` table: every entry seen in a feed and the article it became."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pipeline.store.db import Db


def seen_keys(db: Db, feed_id: int, keys: Iterable[str]) -> set[str]:
    """Which of a feed's entry keys are recorded already."""
    keys = list(set(keys))
    if not keys:
        return set()
    return {
        k
        for (k,) in db.rows(
            "SELECT entry_key FROM feed_entries "
            "WHERE feed_id = ? AND entry_key IN (SELECT unnest(?))",
            [feed_id, keys],
        )
    }


def record_entries(
    db: Db, rows: Sequence[tuple[int, str, str | None, int | None, datetime]]
) -> None:
    """Record (feed_id, entry_key, canonical_url, article_id, seen_at) rows; known keys are kept."""
    db.executemany(
        "INSERT INTO feed_entries (feed_id, entry_key, canonical_url, article_id, first_seen_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [list(r) for r in rows],
    )
