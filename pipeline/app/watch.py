"""The watchlist and the alert rules as `newswatch entities` and `newswatch alerts list` show
them: each entity's counts and latest article, one entity's latest articles, each rule's state
and deliveries. Read-only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.alerts.config import AlertConfig
from pipeline.config.settings import Settings
from pipeline.errors import NewswatchError
from pipeline.store import alerts as alerts_store
from pipeline.store import entities as entities_store
from pipeline.store.db import Warehouse
from pipeline.tag.watchlist import load_watchlist


def entity_mentions(
    settings: Settings, warehouse: Warehouse, name: str, since: datetime | None, limit: int
) -> tuple[str, list[dict[str, Any]]]:
    """The watchlist's name for `name` (case-insensitive) and the latest articles naming it,
    newest first; NewswatchError when neither the watchlist nor any article knows it."""
    watchlist = load_watchlist(settings.watchlist.file)
    entity = watchlist.entity(name) or next(
        (e for e in watchlist.entities if e.name.casefold() == name.casefold()), None
    )
    target = entity.name if entity else name
    with warehouse.connect(read_only=True, wait_s=30) as db:
        rows = [
            r
            for r in entities_store.mentions_of(db, target, limit * 4)
            if since is None or r["published_at"] >= since
        ][:limit]
    if not rows and entity is None:
        raise NewswatchError(
            f"{name!r} is not in the watchlist "
            f"({watchlist.source or 'no watchlist file'}) and no stored "
            f"article names it"
        )
    return target, rows


def entity_counts(
    settings: Settings, warehouse: Warehouse, since: datetime | None
) -> list[tuple[Any, ...]]:
    """One row per entity (the watchlist's, then any other stored), most articles first:
    name, kind, tags, articles, stories, last seen, latest article's title."""
    watchlist = load_watchlist(settings.watchlist.file)
    with warehouse.connect(read_only=True, wait_s=30) as db:
        counts = entities_store.entity_counts(db, since)
    names = list(watchlist.names) + sorted(set(counts) - set(watchlist.names))
    order = sorted(names, key=lambda n: -(counts.get(n, {}).get("articles") or 0))
    rows = []
    for n in order:
        e, c = watchlist.entity(n), counts.get(n, {})
        rows.append(
            (
                n,
                e.kind if e else "(not in watchlist)",
                ", ".join(e.tags) if e else "",
                c.get("articles", 0),
                c.get("stories", 0),
                c.get("last_seen"),
                c.get("latest_title") or "",
            )
        )
    return rows


@dataclass(frozen=True)
class AlertsReport:
    """The alert rules with their state and delivery counts, and the latest alerts."""

    source: Any
    rules: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)


def alerts_report(config: AlertConfig, warehouse: Warehouse, limit: int) -> AlertsReport:
    """Each rule: whether it can fire (disabled, waiting for a saved search, missing a
    channel's environment variables, or active) and its alerts sent, pending and failed; and
    the `limit` latest alerts (none when the warehouse does not exist yet)."""
    recent: list[dict[str, Any]] = []
    per_rule: dict[str, dict[str, int]] = {}
    if warehouse.exists():
        with warehouse.connect(read_only=True, wait_s=30) as db:
            recent = alerts_store.recent_alerts(db, limit)
            per_rule = alerts_store.counts_by_rule(db)
    rules = []
    for r in config.rules:
        missing = sorted({v for c in r.channels for v in config.channels[c].missing_env()})
        state = (
            "disabled"
            if not r.enabled
            else "waiting for search"
            if r.name in config.waiting
            else f"needs {', '.join(missing)}"
            if missing
            else "active"
        )
        counts = per_rule.get(r.name, {})
        rules.append(
            {
                "rule": r.name,
                "when": r.when.describe(),
                "channels": list(r.channels),
                "state": state,
                "sent": counts.get("sent", 0),
                "pending": counts.get("pending", 0),
                "failed": counts.get("failed", 0),
            }
        )
    return AlertsReport(config.source, rules, recent)
