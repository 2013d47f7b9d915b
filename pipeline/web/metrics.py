"""`/metrics` for the operator, in Prometheus' text format: feeds by health, articles and
duplicates stored, alerts pending and failed, job durations (from `runs`), page durations."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from pipeline.errors import WarehouseError
from pipeline.store import reading
from pipeline.web.site import Site

log = logging.getLogger(__name__)


class WarehouseCollector(Collector):
    """Reads the warehouse's figures at each scrape (briefly, read-only)."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def collect(self) -> Iterator[Metric]:
        """The warehouse's gauges; `newswatch_warehouse_up` 0 when it could not be read."""
        up = GaugeMetricFamily(
            "newswatch_warehouse_up", "Whether the warehouse could be read for this scrape"
        )
        try:
            with self.site.read() as db:
                figures = reading.metrics(db)
        except WarehouseError as exc:
            log.info("metrics: warehouse not readable now: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _families(figures)


def _families(figures: dict[str, Any]) -> Iterator[Metric]:
    feeds = GaugeMetricFamily("newswatch_feeds", "Feeds by health", labels=["health"])
    for health, n in sorted(figures["feeds"].items()):
        feeds.add_metric([health], n)
    yield feeds
    articles = GaugeMetricFamily(
        "newswatch_articles", "Articles stored, by source and kind", labels=["source", "kind"]
    )
    for (source, kind), n in sorted(figures["articles"].items()):
        articles.add_metric([source, kind], n)
    yield articles
    alerts = GaugeMetricFamily("newswatch_alerts", "Alerts by status", labels=["status"])
    for status, n in sorted(figures["alerts"].items()):
        alerts.add_metric([status], n)
    yield alerts
    deliveries = GaugeMetricFamily(
        "newswatch_alert_deliveries", "Alert deliveries by status", labels=["status"]
    )
    for status, n in sorted(figures["deliveries"].items()):
        deliveries.add_metric([status], n)
    yield deliveries
    last = GaugeMetricFamily(
        "newswatch_job_last_duration_seconds",
        "Duration of each job's latest finished run",
        labels=["job", "status"],
    )
    finished = GaugeMetricFamily(
        "newswatch_job_last_finished_timestamp_seconds",
        "When each job's latest run finished (Unix time)",
        labels=["job"],
    )
    for job, status, seconds, at in figures["runs"]:
        last.add_metric([job, status], seconds)
        finished.add_metric([job], at)
    yield last
    yield finished


class Metrics:
    """The registry one server exposes, with the page-duration histogram it feeds."""

    def __init__(self, site: Site) -> None:
        self.registry = CollectorRegistry()
        self.pages = Histogram(
            "newswatch_page_duration_seconds",
            "Time to answer a reading-room request",
            ["page"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10),
        )
        self.registry.register(WarehouseCollector(site))

    def observe(self, page: str, started: float) -> None:
        """Count one answered request of a page (by route, not by URL)."""
        self.pages.labels(page).observe(time.perf_counter() - started)

    def endpoint(self, request: Request) -> Response:
        """GET /metrics."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
