"""The alerts outbox (`alerts`, `alert_deliveries`, `alert_checks`) and what rules need to know of
new articles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.models import EntityMatch
from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_list, story_articles

#: An outlet as the pages, the digest and story growth name it: the site name, else the feed's
#: title, else the host of its URL.
SOURCE_SQL = (
    "coalesce(nullif(a.site_name, ''), nullif(f.title, ''), "
    "regexp_replace(lower(regexp_extract(a.url, '^[a-zA-Z][a-zA-Z0-9+.-]*://"
    "(?:[^@/]*@)?([^:/?#]+)', 1)), '^www\\.', ''), 'unknown')"
)


@dataclass(frozen=True)
class NewAlert:
    """An alert to insert, pending, with one delivery per channel."""

    rule: str
    story_id: int
    article_id: int
    title: str
    url: str
    source: str
    evidence: dict[str, Any]
    channels: tuple[str, ...]


def candidates(db: Db, ids: Sequence[int]) -> list[dict[str, Any]]:
    """New feed articles rules may alert on (copies of seeds are known news), in id order, with
    their outlet, topics and relevance."""
    if not ids:
        return []
    rows = db.dicts(
        f"SELECT a.id, coalesce(a.story_id, a.id) AS story_id, a.title, a.url, a.relevance, "
        f"coalesce(a.published_at, a.fetched_at) AS published_at, {SOURCE_SQL} AS source "
        f"FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id "
        f"LEFT JOIN articles o ON o.id = a.duplicate_of "
        f"WHERE a.id IN (SELECT unnest(?::BIGINT[])) AND a.source = 'feed' "
        f"AND (o.id IS NULL OR o.source <> 'seed') ORDER BY a.id",
        [id_list(ids)],
    )
    topics: dict[int, dict[str, float]] = {}
    for aid, topic, score in db.rows(
        "SELECT article_id, topic, score FROM article_topics "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [id_list(r["id"] for r in rows)],
    ):
        topics.setdefault(aid, {})[topic] = float(score)
    for r in rows:
        r["topics"] = topics.get(r["id"], {})
    return rows


def entity_matches(db: Db, ids: Sequence[int]) -> dict[int, dict[str, EntityMatch]]:
    """Stored watchlist matches of some articles."""
    out: dict[int, dict[str, EntityMatch]] = {}
    if not ids:
        return out
    for aid, entity, mentions, offset, evidence, aliases in db.rows(
        "SELECT article_id, entity, mentions, first_offset, evidence, aliases "
        "FROM article_entities WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [id_list(ids)],
    ):
        out.setdefault(aid, {})[entity] = EntityMatch(
            entity, int(mentions), offset, evidence, tuple(aliases or ())
        )
    return out


def story_reports(db: Db, story_ids: Iterable[int]) -> dict[int, list[tuple[int, str, datetime]]]:
    """Every feed report of some stories: (article id, outlet, when published or fetched)."""
    ids = sorted(set(story_ids))
    out: dict[int, list[tuple[int, str, datetime]]] = {}
    if not ids:
        return out
    for story, aid, source, when in db.rows(
        f"SELECT coalesce(a.story_id, a.id), a.id, {SOURCE_SQL}, "
        f"coalesce(a.published_at, a.fetched_at) FROM {story_articles(ids)} a "
        f"LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.source = 'feed' ORDER BY a.id"
    ):
        out.setdefault(int(story), []).append((int(aid), source, when))
    return out


def alerted(db: Db, pairs: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (rule, story) pairs have an alert already."""
    pairs = list(set(pairs))
    if not pairs:
        return set()
    rules = sorted({r for r, _ in pairs})
    stories = sorted({s for _, s in pairs})
    found = db.rows(
        "SELECT rule, story_id FROM alerts WHERE rule IN (SELECT unnest(?)) "
        "AND story_id IN (SELECT unnest(?))",
        [rules, stories],
    )
    return {(r, int(s)) for r, s in found} & set(pairs)


def insert_alerts(db: Db, alerts: Sequence[NewAlert], now: datetime) -> list[int]:
    """Insert pending alerts and their deliveries (call inside a transaction); return the ids."""
    ids = []
    for a in alerts:
        aid = int(
            db.scalar(
                "INSERT INTO alerts (rule, story_id, article_id, created_at, title, url, "
                "source_name, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [
                    a.rule,
                    a.story_id,
                    a.article_id,
                    now,
                    a.title,
                    a.url,
                    a.source,
                    json.dumps(a.evidence, ensure_ascii=False, default=str),
                ],
            )
        )
        db.executemany(
            "INSERT INTO alert_deliveries (alert_id, channel) VALUES (?, ?)",
            [(aid, c) for c in a.channels],
        )
        ids.append(aid)
    return ids


def add_checks(db: Db, pairs: Iterable[tuple[str, int]], now: datetime) -> None:
    """Articles a rule must still ask a saved search about (call inside a transaction)."""
    rows = [(r, a, now) for r, a in sorted(set(pairs))]
    db.executemany(
        "INSERT INTO alert_checks (rule, article_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        rows,
    )


def pending_checks(db: Db) -> list[tuple[str, int]]:
    """Every (rule, article id) waiting for a saved search, oldest article first."""
    return [
        (r, int(a))
        for r, a in db.rows("SELECT rule, article_id FROM alert_checks ORDER BY article_id, rule")
    ]


def drop_checks(db: Db, pairs: Iterable[tuple[str, int]]) -> None:
    """Forget checks that were answered (call inside a transaction)."""
    db.executemany(
        "DELETE FROM alert_checks WHERE rule = ? AND article_id = ?", [(r, a) for r, a in pairs]
    )


def due_deliveries(
    db: Db, now: datetime, alert_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Pending deliveries whose time has come (or of the given alerts), with their alert."""
    where = "d.status = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
    params: list[Any] = [now]
    if alert_ids is not None:
        where += " AND d.alert_id IN (SELECT unnest(?))"
        params.append(list(alert_ids))
    return db.dicts(
        f"SELECT d.alert_id, d.channel, d.attempts, a.rule, a.story_id, a.article_id, "
        f"a.created_at, a.title, a.url, a.source_name, a.evidence, "
        f"coalesce(ar.published_at, ar.fetched_at) AS published_at "
        f"FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        f"LEFT JOIN articles ar ON ar.id = a.article_id WHERE {where} "
        f"ORDER BY d.alert_id, d.channel",
        params,
    )


def record_delivery(
    db: Db,
    alert_id: int,
    channel: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    next_attempt_at: datetime | None,
    sent_at: datetime | None,
) -> None:
    """Record one delivery's outcome and bring its alert's summary up to date."""
    db.execute(
        "UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?, "
        "next_attempt_at = ?, sent_at = coalesce(?, sent_at) "
        "WHERE alert_id = ? AND channel = ?",
        [status, attempts, error, next_attempt_at, sent_at, alert_id, channel],
    )
    _summarise(db, [alert_id])


def _summarise(db: Db, alert_ids: Sequence[int]) -> None:
    """An alert is sent when every delivery is, pending while one is, else failed."""
    db.execute(
        "UPDATE alerts SET status = s.status, attempts = s.attempts, last_error = s.last_error, "
        "next_attempt_at = s.next_attempt_at, sent_at = s.sent_at FROM ("
        "  SELECT alert_id, CASE WHEN bool_and(status = 'sent') THEN 'sent' "
        "    WHEN bool_or(status = 'pending') THEN 'pending' ELSE 'failed' END AS status, "
        "  max(attempts) AS attempts, "
        "  string_agg(channel || ': ' || last_error, '; ' ORDER BY channel) AS last_error, "
        "  min(next_attempt_at) FILTER (WHERE status = 'pending') AS next_attempt_at, "
        "  max(sent_at) FILTER (WHERE status = 'sent') AS sent_at "
        "  FROM alert_deliveries WHERE alert_id IN (SELECT unnest(?::BIGINT[])) "
        "  GROUP BY alert_id) s "
        "WHERE alerts.id = s.alert_id",
        [id_list(alert_ids)],
    )


def replay(db: Db, alert_id: int, channels: Sequence[str]) -> None:
    """Make an alert's deliveries pending again, due now (call inside a transaction); channels
    the rule has gained since get a delivery of their own."""
    db.execute(
        "UPDATE alert_deliveries SET status = 'pending', attempts = 0, last_error = NULL, "
        "next_attempt_at = NULL WHERE alert_id = ?",
        [alert_id],
    )
    db.executemany(
        "INSERT INTO alert_deliveries (alert_id, channel) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(alert_id, c) for c in channels],
    )
    _summarise(db, [alert_id])


def get_alert(db: Db, alert_id: int) -> dict[str, Any] | None:
    """One alert with its deliveries."""
    rows = db.dicts("SELECT * FROM alerts WHERE id = ?", [alert_id])
    if not rows:
        return None
    rows[0]["deliveries"] = db.dicts(
        "SELECT channel, status, attempts, last_error, next_attempt_at, sent_at "
        "FROM alert_deliveries WHERE alert_id = ? ORDER BY channel",
        [alert_id],
    )
    return rows[0]


def recent_alerts(db: Db, limit: int = 20) -> list[dict[str, Any]]:
    """The latest alerts, newest first."""
    return db.dicts(
        "SELECT id, created_at, rule, story_id, article_id, title, status, attempts, "
        "last_error FROM alerts ORDER BY id DESC LIMIT ?",
        [limit],
    )


def counts_by_rule(db: Db) -> dict[str, dict[str, int]]:
    """Alerts per rule and status."""
    out: dict[str, dict[str, int]] = {}
    for rule, status, n in db.rows("SELECT rule, status, count(*) FROM alerts GROUP BY ALL"):
        out.setdefault(rule, {})[status] = int(n)
    return out


def outbox_summary(db: Db, limit: int = 10) -> dict[str, Any]:
    """For `status`: alerts per status, and the pending and failed deliveries (newest first)."""
    if not db.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alert_deliveries'"
    ):
        return {}
    counts = {s: int(n) for s, n in db.rows("SELECT status, count(*) FROM alerts GROUP BY 1")}
    waiting = db.dicts(
        "SELECT d.alert_id, a.rule, d.channel, d.status, d.attempts, d.last_error, "
        "d.next_attempt_at, a.title FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.status <> 'sent' ORDER BY d.status = 'failed' DESC, d.alert_id DESC LIMIT ?",
        [limit],
    )
    return {
        "counts": counts,
        "deliveries": waiting,
        "checks": int(db.scalar("SELECT count(*) FROM alert_checks") or 0),
    }
