"""What `newswatch status` reports: the daemon, feeds' health, runs, counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.console import Console

from pipeline.cli.output import render_table
from pipeline.settings import Settings
from pipeline.store import articles as article_store
from pipeline.store import reports
from pipeline.store import runs as run_store
from pipeline.store.db import Warehouse


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


def config_problems(settings: Settings) -> list[str]:
    """What is wrong with the files a cycle reads (feeds, topics), one line each."""
    from pipeline.errors import ConfigError
    from pipeline.feedsconfig import load_feeds
    from pipeline.topics import load_topics

    problems = []
    try:
        load_feeds(settings.feeds.file, missing_ok=settings.feeds.allow_missing)
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        load_topics(settings.topics.file, settings.seeds.dir)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def daemon_state(settings: Settings) -> tuple[dict[str, Any], bool]:
    """The daemon's published state and whether it is actually running now."""
    from pipeline.daemon import read_state
    from pipeline.lock import lock_path

    state = read_state(settings.warehouse.path)
    lock = lock_path(settings.warehouse.path, "daemon")
    alive = False
    if lock.exists():
        import fcntl
        import os

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            alive = True
        finally:
            os.close(fd)
    return state, alive


def gather_status(settings: Settings, warehouse: Warehouse,
                  now: datetime | None = None) -> StatusReport:
    """Read everything the status report shows (read-only; the daemon may be running)."""
    from zoneinfo import ZoneInfo

    now = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(settings.schedule.timezone))
    # "This week" is the ISO week in the configured time zone, as in the digest.
    week_start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    state, alive = daemon_state(settings)
    with warehouse.connect(read_only=True, wait_s=30) as db:
        return StatusReport(
            warehouse=str(warehouse.path),
            by_source=article_store.counts_by_source(db),
            tables=article_store.table_counts(db),
            feeds=reports.feed_health(db),
            runs=run_store.last_runs(db, 8),
            week_topics=reports.topic_counts_since(db, week_start),
            week_articles=reports.articles_since(db, week_start),
            daemon=state, daemon_alive=alive, problems=config_problems(settings))


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_status(report: StatusReport, console: Console) -> None:
    """Print the status report."""
    console.print(f"[bold]warehouse[/] {report.warehouse}")
    for problem in report.problems:
        console.print(f"[bold red]configuration error[/] {problem}", highlight=False)
    d = report.daemon
    if report.daemon_alive:
        running = f", running {d.get('running_job')}" if d.get("running_job") else ""
        console.print(f"[bold]daemon[/] running: pid {d.get('pid')} on {d.get('host')} since "
                      f"{_when(d.get('started_at'))}{running}")
        jobs = [(j.get("name", k), _when(j.get("next_run_at")))
                for k, j in sorted(d.get("jobs", {}).items(),
                                   key=lambda kv: kv[1].get("next_run_at") or "")]
        render_table(["job", "next run"], jobs, title="next scheduled jobs", console=console)
    else:
        console.print("[bold]daemon[/] not running" +
                      (f" (last seen {_when(d.get('updated_at'))})" if d else ""))

    healthy = sum(1 for f in report.feeds if f["health"] == "healthy")
    failing = [f for f in report.feeds if f["health"] in ("failing", "disabled")]
    console.print(f"[bold]feeds[/] {len(report.feeds)}: {healthy} healthy, "
                  f"{sum(1 for f in report.feeds if f['health'] == 'failing')} failing, "
                  f"{sum(1 for f in report.feeds if f['health'] == 'disabled')} disabled, "
                  f"{sum(1 for f in report.feeds if f['health'] == 'new')} not polled yet")
    if failing:
        render_table(["feed", "health", "errors", "last error", "next poll"],
                     [(f["title"] or f["url"], f["health"], f["error_count"],
                       f"{f['last_error_kind'] or ''}: {f['disabled_reason'] or f['last_error'] or ''}",
                       _when(f["next_poll_at"])) for f in failing],
                     title="feeds needing attention", console=console, max_width=60)
    if report.runs:
        render_table(["job", "started", "status", "seconds", "counts / error"],
                     [(r["job"], _when(r["started_at"]), r["status"],
                       f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}"
                       if r["finished_at"] else "", r["error"] or _short_counts(r["counts"]))
                      for r in report.runs], title="last runs", console=console, max_width=70)
    wa = report.week_articles
    console.print(f"[bold]this week[/] {wa.get('stored', 0)} articles stored: "
                  f"{wa.get('originals', 0)} originals, {wa.get('duplicates', 0)} duplicates, "
                  f"{wa.get('off_topic', 0)} off-topic")
    if report.week_topics:
        render_table(["topic", "articles", "stories"],
                     [(t, c["articles"], c["stories"]) for t, c in report.week_topics.items()],
                     title="articles this week per topic", console=console)
    render_table(["source", "articles"], sorted(report.by_source.items()),
                 title="articles per source", console=console)
    render_table(["table", "rows"], sorted(report.tables.items()), title="rows per table",
                 console=console)


def _short_counts(counts: Any) -> str:
    try:
        data = json.loads(counts) if isinstance(counts, str) else (counts or {})
    except ValueError:
        return str(counts)
    keep = ("articles_new", "feeds_polled", "feeds_failed", "duplicates", "outcome", "week",
            "polls_pruned")
    return ", ".join(f"{k}={data[k]}" for k in keep if k in data) or ""
