"""`/feeds` (health, last error, next poll, last runs) and `/alerts` (fired alerts, deliveries,
failures): what an operator checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pipeline.store import alerts as alerts_store
from pipeline.store import feeds as feed_store
from pipeline.store import runs as run_store
from pipeline.web.render import Pages
from pipeline.web.site import Site

FEED_FIELDS = (
    "id",
    "title",
    "url",
    "health",
    "enabled",
    "error_count",
    "last_error_kind",
    "last_error",
    "last_http_status",
    "last_polled_at",
    "last_success_at",
    "next_poll_at",
    "disabled_reason",
    "in_config",
)


@dataclass(frozen=True)
class FeedsPage:
    """Every feed's health, and the last job runs."""

    health: Mapping[str, int]
    feeds: tuple[Mapping[str, Any], ...]
    runs: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class AlertsPage:
    """Alerts fired, per status, and the deliveries still pending or failed."""

    counts: Mapping[str, int]
    alerts: tuple[Mapping[str, Any], ...]
    waiting: tuple[Mapping[str, Any], ...]


def feeds_page(site: Site) -> FeedsPage:
    """Feeds by health (failing first), and the latest runs."""
    with site.read() as db:
        feeds = feed_store.feed_states(db)
        runs = run_store.last_runs(db, 20)
    order = {"failing": 0, "disabled": 1, "new": 2, "healthy": 3}
    rows = sorted(
        ({k: f.get(k) for k in FEED_FIELDS} for f in feeds),
        key=lambda f: (order.get(str(f["health"]), 9), str(f["title"] or f["url"])),
    )
    health: dict[str, int] = {}
    for f in rows:
        health[str(f["health"])] = health.get(str(f["health"]), 0) + 1
    return FeedsPage(health=health, feeds=tuple(rows), runs=tuple(runs))


def alerts_page(site: Site) -> AlertsPage:
    """The latest alerts and the outbox."""
    with site.read() as db:
        alerts = alerts_store.recent_alerts(db, 100)
        outbox = alerts_store.outbox_summary(db, 50)
    return AlertsPage(
        counts=dict(outbox.get("counts", {})),
        alerts=tuple(alerts),
        waiting=tuple(outbox.get("deliveries", ())),
    )


def feeds(site: Site, pages: Pages, request: Request) -> Response:
    """GET /feeds (and .json)."""
    return pages.render(request, "feeds.html", feeds_page(site), title="Feeds")


def alerts(site: Site, pages: Pages, request: Request) -> Response:
    """GET /alerts (and .json)."""
    return pages.render(request, "alerts.html", alerts_page(site), title="Alerts")
