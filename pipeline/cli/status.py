"""`newswatch status`: the daemon, configuration problems, feeds' health, runs, counts."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from pipeline.app.status import StatusReport, gather_status
from pipeline.cli.app import App, pass_app
from pipeline.cli.output import format_option, plain, render_table


@click.command()
@format_option("table", "json", help="table for people, json for monitoring.")
@pass_app
def status(app: App, fmt: str) -> None:
    """Feeds' health, last and next runs, articles per topic, row counts."""
    report = gather_status(app.settings, app.warehouse)
    if fmt == "json":
        click.echo(json.dumps(plain(dataclasses.asdict(report)), indent=2, ensure_ascii=False))
        return
    render_status(report, Console())


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_status(report: StatusReport, console: Console) -> None:
    """Print the status report."""
    console.print(f"[bold]warehouse[/] {report.warehouse}")
    for problem in report.problems:
        console.print(f"[bold red]configuration error[/] {problem}", highlight=False)
    _render_daemon(report, console)
    if report.cross_lingual:
        console.print(f"[bold]cross-lingual linking[/] {report.cross_lingual}", highlight=False)
    if report.vectors:
        console.print(f"[bold]vectors[/] {escape(report.vectors)}", highlight=False)
    if report.texts:
        console.print(f"[bold]texts[/] {escape(report.texts)}", highlight=False)
    _render_feeds(report.feeds, console)
    _render_runs(report.runs, console)
    _render_alerts(report.alerts, console)
    _render_counts(report, console)


def _render_daemon(report: StatusReport, console: Console) -> None:
    d = report.daemon
    if not report.daemon_alive:
        console.print(
            "[bold]daemon[/] not running"
            + (f" (last seen {_when(d.get('updated_at'))})" if d else "")
        )
        return
    running = f", running {d.get('running_job')}" if d.get("running_job") else ""
    console.print(
        f"[bold]daemon[/] running: pid {d.get('pid')} on {d.get('host')} since "
        f"{_when(d.get('started_at'))}{running}"
    )
    jobs = [
        (j.get("name", k), _when(j.get("next_run_at")))
        for k, j in sorted(d.get("jobs", {}).items(), key=lambda kv: kv[1].get("next_run_at") or "")
    ]
    render_table(["job", "next run"], jobs, title="next scheduled jobs", console=console)


def _render_feeds(feeds: list[dict[str, Any]], console: Console) -> None:
    healthy = sum(1 for f in feeds if f["health"] == "healthy")
    failing = [f for f in feeds if f["health"] in ("failing", "disabled")]
    console.print(
        f"[bold]feeds[/] {len(feeds)}: {healthy} healthy, "
        f"{sum(1 for f in feeds if f['health'] == 'failing')} failing, "
        f"{sum(1 for f in feeds if f['health'] == 'disabled')} disabled, "
        f"{sum(1 for f in feeds if f['health'] == 'new')} not polled yet"
    )
    if failing:
        render_table(
            ["feed", "health", "errors", "last error", "next poll"],
            [
                (
                    f["title"] or f["url"],
                    f["health"],
                    f["error_count"],
                    f"{f['last_error_kind'] or ''}: "
                    f"{f['disabled_reason'] or f['last_error'] or ''}",
                    _when(f["next_poll_at"]),
                )
                for f in failing
            ],
            title="feeds needing attention",
            console=console,
            max_width=60,
        )


def _render_runs(runs: list[dict[str, Any]], console: Console) -> None:
    if not runs:
        return
    render_table(
        ["job", "started", "status", "seconds", "counts / error"],
        [
            (
                r["job"],
                _when(r["started_at"]),
                r["status"],
                f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}"
                if r["finished_at"]
                else "",
                r["error"] or _short_counts(r["counts"]),
            )
            for r in runs
        ],
        title="last runs",
        console=console,
        max_width=70,
    )


def _render_counts(report: StatusReport, console: Console) -> None:
    wa = report.week_articles
    console.print(
        f"[bold]this week[/] {wa.get('stored', 0)} articles stored: "
        f"{wa.get('originals', 0)} originals, {wa.get('duplicates', 0)} duplicates, "
        f"{wa.get('off_topic', 0)} off-topic"
    )
    if report.week_topics:
        render_table(
            ["topic", "articles", "stories"],
            [(t, c["articles"], c["stories"]) for t, c in report.week_topics.items()],
            title="articles this week per topic",
            console=console,
        )
    render_table(
        ["source", "articles"],
        sorted(report.by_source.items()),
        title="articles per source",
        console=console,
    )
    render_table(
        ["table", "rows"], sorted(report.tables.items()), title="rows per table", console=console
    )


def _render_alerts(alerts: dict[str, Any], console: Console) -> None:
    if not alerts:
        return
    c = alerts.get("counts", {})
    checks = f", {alerts['checks']} waiting for a saved search" if alerts.get("checks") else ""
    console.print(
        f"[bold]alerts[/] {c.get('pending', 0)} pending, {c.get('failed', 0)} failed, "
        f"{c.get('sent', 0)} sent{checks}",
        highlight=False,
    )
    if alerts.get("deliveries"):
        render_table(
            ["alert", "rule", "channel", "status", "tries", "next try", "last error"],
            [
                (
                    d["alert_id"],
                    d["rule"],
                    d["channel"],
                    d["status"],
                    d["attempts"],
                    _when(d["next_attempt_at"]),
                    d["last_error"] or "",
                )
                for d in alerts["deliveries"]
            ],
            title="alerts not delivered (`newswatch alerts replay ID` sends one again)",
            console=console,
            max_width=60,
        )


def _short_counts(counts: Any) -> str:
    try:
        data = json.loads(counts) if isinstance(counts, str) else (counts or {})
    except ValueError:
        return str(counts)
    keep = (
        "articles_new",
        "feeds_polled",
        "feeds_failed",
        "duplicates",
        "alerts_raised",
        "alerts_failed",
        "outcome",
        "week",
        "polls_pruned",
    )
    return ", ".join(f"{k}={data[k]}" for k in keep if k in data) or ""
