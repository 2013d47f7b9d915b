"""Queries behind the weekly digest and the `digests` bookkeeping table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_list


def week_rows(db: Db, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Feed articles first stored in [start, end), with their topics as {slug: score} and their
    watchlist entities as {name: mentions}."""
    rows = db.dicts(
        "SELECT a.id, a.title, a.url, a.site_name, f.title AS feed_title, a.published_at, "
        "a.fetched_at, a.description, left(a.text, 1500) AS text, a.duplicate_of, a.story_id, "
        "a.on_topic FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id "
        "WHERE a.source = 'feed' AND a.fetched_at >= ? AND a.fetched_at < ? ORDER BY a.id",
        [start, end],
    )
    if not rows:
        return []
    topics: dict[int, dict[str, float]] = {}
    for aid, topic, score in db.rows(
        "SELECT article_id, topic, score FROM article_topics "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [id_list(r["id"] for r in rows)],
    ):
        topics.setdefault(aid, {})[topic] = float(score)
    entities: dict[int, dict[str, int]] = {}
    for aid, entity, mentions in db.rows(
        "SELECT article_id, entity, mentions FROM article_entities "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [id_list(r["id"] for r in rows)],
    ):
        entities.setdefault(aid, {})[entity] = int(mentions)
    for r in rows:
        r["topics"] = topics.get(r["id"], {})
        r["entities"] = entities.get(r["id"], {})
    return rows


def failing_feeds(db: Db, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """Feeds that failed during the week or are failing now: (name, last error)."""
    return [
        (name, error or "")
        for name, error in db.rows(
            "SELECT coalesce(f.title, f.url), coalesce(f.disabled_reason, "
            "f.last_error_kind || ': ' || f.last_error, p.error_kind || ': ' || p.error_message) "
            "FROM feeds f "
            "LEFT JOIN (SELECT feed_id, arg_max(error_kind, polled_at) AS error_kind, "
            "arg_max(error_message, polled_at) AS error_message FROM feed_polls "
            "WHERE status IN ('error', 'gone') AND polled_at >= ? AND polled_at < ? "
            "GROUP BY feed_id) p ON p.feed_id = f.id "
            "WHERE f.in_config AND (p.feed_id IS NOT NULL OR f.error_count > 0 OR NOT f.enabled) "
            "ORDER BY 1",
            [start, end],
        )
    ]


def get_digest(db: Db, week: str) -> dict[str, Any] | None:
    """The digests row of a week, if any."""
    rows = db.dicts("SELECT * FROM digests WHERE week = ?", [week])
    return rows[0] if rows else None


def record(
    db: Db,
    week: str,
    status: str,
    *,
    message_id: str | None = None,
    subject: str | None = None,
    recipients: Sequence[str] = (),
    counts: dict[str, int] | None = None,
    error: str | None = None,
    sent: bool = False,
) -> None:
    """Insert or update a week's digests row (attempts counted)."""
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO digests (week, status, attempts, created_at, sent_at, message_id, subject, "
        "recipients, counts, error) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (week) DO UPDATE SET status = excluded.status, "
        "attempts = digests.attempts + 1, sent_at = excluded.sent_at, "
        "message_id = excluded.message_id, subject = excluded.subject, "
        "recipients = excluded.recipients, counts = excluded.counts, error = excluded.error",
        [
            week,
            status,
            now,
            now if sent else None,
            message_id,
            subject,
            list(recipients),
            json.dumps(counts or {}),
            error,
        ],
    )
