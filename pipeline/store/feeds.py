"""The `feeds` and `feed_polls` tables: the configured list, each feed's state, every poll."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.models import FeedConfig, FeedState, PollOutcome
from pipeline.store.db import Db

_STATE_COLUMNS = (
    "id, url, config_url, title, etag, last_modified, body_hash, error_count, "
    "interval_s, enabled, in_config, next_poll_at, last_polled_at, "
    "coalesce(allow_private, FALSE)"
)


@dataclass(frozen=True)
class SyncResult:
    """What syncing the feeds file changed in the warehouse."""

    added: int = 0
    updated: int = 0
    removed: int = 0


def _state(row: Sequence[Any]) -> FeedState:
    return FeedState(*row)


def sync_feeds(db: Db, configs: Iterable[FeedConfig]) -> SyncResult:
    """Make the table match the feeds file (matched on the URL as written in the file)."""
    configs = list(configs)
    current = {
        r[0]: r
        for r in db.rows(
            "SELECT config_url, title, tags, interval_s, in_config, id, "
            "coalesce(allow_private, FALSE) FROM feeds"
        )
    }
    added = updated = 0
    for c in configs:
        row = current.get(c.url)
        if row is None:
            taken = db.scalar("SELECT id FROM feeds WHERE url = ?", [c.url])
            if taken is not None:  # the URL a moved feed now lives at: adopt that row
                db.execute(
                    "UPDATE feeds SET config_url = ?, title = coalesce(?, title), "
                    "tags = ?, interval_s = ?, in_config = TRUE, allow_private = ? "
                    "WHERE id = ?",
                    [c.url, c.title, list(c.tags), c.interval_s, c.allow_private, taken],
                )
                updated += 1
                continue
            db.execute(
                "INSERT INTO feeds (url, config_url, title, tags, interval_s, in_config, "
                "allow_private) VALUES (?, ?, ?, ?, ?, TRUE, ?)",
                [c.url, c.url, c.title, list(c.tags), c.interval_s, c.allow_private],
            )
            added += 1
        elif (row[1], list(row[2] or []), row[3], row[4], row[6]) != (
            c.title or row[1],
            list(c.tags),
            c.interval_s,
            True,
            c.allow_private,
        ):
            db.execute(
                "UPDATE feeds SET title = coalesce(?, title), tags = ?, interval_s = ?, "
                "in_config = TRUE, allow_private = ? WHERE id = ?",
                [c.title, list(c.tags), c.interval_s, c.allow_private, row[5]],
            )
            updated += 1
    listed = {c.url for c in configs}
    gone = [r[5] for url, r in current.items() if url not in listed and r[4]]
    if gone:
        # An exemption from the private-address guard ends with the feed's entry in the file.
        db.execute(
            "UPDATE feeds SET in_config = FALSE, allow_private = FALSE "
            "WHERE id IN (SELECT unnest(?))",
            [gone],
        )
    return SyncResult(added, updated, len(gone))


def adhoc_feed(db: Db, url: str) -> FeedState:
    """A feed named on the command line: the configured one, or a new on-demand row."""
    row = db.one(
        f"SELECT {_STATE_COLUMNS} FROM feeds WHERE config_url = ? OR url = ? "
        f"ORDER BY in_config DESC LIMIT 1",
        [url, url],
    )
    if row is None:
        db.execute(
            "INSERT INTO feeds (url, config_url, in_config) VALUES (?, ?, FALSE)", [url, url]
        )
        row = db.one(f"SELECT {_STATE_COLUMNS} FROM feeds WHERE config_url = ?", [url])
        assert row is not None  # inserted just above
    return _state(row)


def due_feeds(db: Db, now: datetime, urls: Sequence[str] | None = None) -> list[FeedState]:
    """Configured, enabled feeds whose next poll is due; with `urls`, exactly those, now."""
    if urls:
        return [
            _state(r)
            for r in db.rows(
                f"SELECT {_STATE_COLUMNS} FROM feeds WHERE url IN (SELECT unnest(?)) "
                f"OR config_url IN (SELECT unnest(?)) ORDER BY id",
                [list(urls), list(urls)],
            )
        ]
    return [
        _state(r)
        for r in db.rows(
            f"SELECT {_STATE_COLUMNS} FROM feeds WHERE enabled AND in_config "
            f"AND (next_poll_at IS NULL OR next_poll_at <= ?) "
            f"ORDER BY next_poll_at NULLS FIRST, id",
            [now],
        )
    ]


def apply_poll(db: Db, outcome: PollOutcome, new_entries: int) -> None:
    """Store a poll's outcome: the feed's new state and a `feed_polls` row."""
    failed = outcome.status in ("error", "gone")
    url: str | None = outcome.url
    if url != db.scalar("SELECT url FROM feeds WHERE id = ?", [outcome.feed_id]) and db.scalar(
        "SELECT count(*) FROM feeds WHERE url = ?", [url]
    ):
        url = None  # another feed already has the redirect target; keep ours as it is
    db.execute(
        "UPDATE feeds SET url = coalesce(?, url), etag = ?, last_modified = ?, body_hash = ?, "
        "last_polled_at = ?, next_poll_at = ?, error_count = ?, last_status = ?, "
        "last_http_status = ?, title = coalesce(title, ?), "
        "last_success_at = CASE WHEN ? THEN last_success_at ELSE ? END, "
        "last_error = CASE WHEN ? THEN ? ELSE last_error END, "
        "last_error_kind = CASE WHEN ? THEN ? ELSE last_error_kind END, "
        "enabled = ?, disabled_reason = CASE WHEN ? THEN disabled_reason ELSE ? END "
        "WHERE id = ?",
        [
            url,
            outcome.etag,
            outcome.last_modified,
            outcome.body_hash,
            outcome.polled_at,
            outcome.next_poll_at,
            outcome.error_count,
            outcome.status,
            outcome.http_status,
            outcome.title,
            failed,
            outcome.polled_at,
            failed,
            outcome.error_message,
            failed,
            outcome.error_kind,
            outcome.enabled,
            outcome.enabled,
            outcome.disabled_reason,
            outcome.feed_id,
        ],
    )
    db.execute(
        "INSERT INTO feed_polls (feed_id, polled_at, status, http_status, bytes, entries, "
        "new_entries, error_kind, error_message, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.feed_id,
            outcome.polled_at,
            outcome.status,
            outcome.http_status,
            outcome.bytes,
            len(outcome.entries),
            new_entries,
            outcome.error_kind,
            outcome.error_message,
            outcome.duration_ms,
        ],
    )


def feed_states(db: Db) -> list[dict[str, Any]]:
    """Every feed with its health, for `feeds list`."""
    return db.dicts(
        "SELECT f.*, h.health FROM feeds f JOIN feed_health h ON h.id = f.id ORDER BY f.id"
    )


def set_enabled(db: Db, url: str, enabled: bool) -> int:
    """Enable or disable a feed by URL; return rows changed."""
    n = int(
        db.scalar("SELECT count(*) FROM feeds WHERE url = ? OR config_url = ?", [url, url]) or 0
    )
    db.execute(
        "UPDATE feeds SET enabled = ?, disabled_reason = NULL, error_count = 0, "
        "next_poll_at = NULL WHERE url = ? OR config_url = ?",
        [enabled, url, url],
    )
    return n


def prune_polls(db: Db, before: datetime) -> int:
    """Delete feed_polls rows older than a moment; return how many."""
    n = int(db.scalar("SELECT count(*) FROM feed_polls WHERE polled_at < ?", [before]) or 0)
    db.execute("DELETE FROM feed_polls WHERE polled_at < ?", [before])
    return n
