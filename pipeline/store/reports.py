"""Read-only queries behind `newswatch status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.store.db import Db


def feed_health(db: Db) -> list[dict[str, Any]]:
    """One row per configured feed from the feed_health view, failing feeds first."""
    return db.dicts(
        "SELECT id, title, url, health, error_count, last_error_kind, last_error, "
        "last_http_status, last_polled_at, last_success_at, next_poll_at, disabled_reason "
        "FROM feed_health WHERE in_config OR health <> 'new' "
        "ORDER BY CASE health WHEN 'failing' THEN 0 WHEN 'disabled' THEN 1 WHEN 'new' THEN 2 "
        "ELSE 3 END, error_count DESC, coalesce(title, url)"
    )


def topic_counts_since(db: Db, since: datetime) -> dict[str, dict[str, int]]:
    """Articles and distinct stories per topic stored since a moment (copies left out)."""
    rows = db.rows(
        "SELECT t.topic, count(*), count(DISTINCT coalesce(a.story_id, a.id)) "
        "FROM articles a JOIN article_topics t ON t.article_id = a.id "
        "WHERE a.source = 'feed' AND a.duplicate_of IS NULL AND a.fetched_at >= ? "
        "GROUP BY t.topic ORDER BY t.topic",
        [since],
    )
    return {topic: {"articles": n, "stories": s} for topic, n, s in rows}


def articles_since(db: Db, since: datetime) -> dict[str, int]:
    """Feed articles stored since a moment: all, originals, duplicates, off-topic."""
    row = db.one(
        "SELECT count(*), count(*) FILTER (WHERE duplicate_of IS NULL), "
        "count(*) FILTER (WHERE duplicate_of IS NOT NULL), count(*) FILTER (WHERE NOT on_topic) "
        "FROM articles WHERE source = 'feed' AND fetched_at >= ?",
        [since],
    )
    return dict(
        zip(("stored", "originals", "duplicates", "off_topic"), row or (0, 0, 0, 0), strict=True)
    )
