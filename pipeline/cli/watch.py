"""`newswatch entities` and `newswatch alerts list|test|replay`: the watchlist and the alerts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option, plain, render_table
from pipeline.errors import AlertError

if TYPE_CHECKING:
    from pipeline.alerts.config import AlertConfig


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    match = re.fullmatch(r"(\d+)\s*([hdw])", value.strip().lower())
    if not match:
        raise click.BadParameter(
            f"{value!r}: use a number of hours, days or weeks: 12h, 30d, 4w", param_hint="'--since'"
        )
    hours = int(match[1]) * {"h": 1, "d": 24, "w": 168}[match[2]]
    return datetime.now(UTC) - timedelta(hours=hours)


@click.command()
@click.argument("name", required=False)
@click.option("--since", metavar="AGE", help="Only articles stored in the last AGE (12h, 30d, 4w).")
@click.option(
    "--limit", type=int, default=20, show_default=True, help="Articles listed for one entity."
)
@format_option()
@pass_app
def entities(app: App, name: str | None, since: str | None, limit: int, fmt: str) -> None:
    """Watchlist entities with their counts and latest article, or NAME's latest articles."""
    # Deferred: the watchlist loads ahocorasick (~15 ms), for the watch commands alone.
    from pipeline.app.watch import entity_counts, entity_mentions

    start = _since(since)
    if name is not None:
        target, rows = entity_mentions(app.settings, app.warehouse, name, start, limit)
        emit(
            ["id", "published", "title", "source", "mentions", "copy of", "evidence"],
            [
                (
                    r["id"],
                    r["published_at"],
                    r["title"],
                    r["source_name"],
                    r["mentions"],
                    r["duplicate_of"],
                    r["evidence"],
                )
                for r in rows
            ],
            fmt,
            title=f"latest articles naming {target}",
        )
        return
    emit(
        ["entity", "kind", "tags", "articles", "stories", "last seen", "latest article"],
        entity_counts(app.settings, app.warehouse, start),
        fmt,
        title="watchlist entities" + (f" since {since}" if since else ""),
        max_width=60,
    )


@click.group()
def alerts() -> None:
    """Alert rules (config/alerts.toml) and the alerts they raised."""


def _config(app: App) -> AlertConfig:
    from pipeline.alerts.config import alert_config_for  # ahocorasick: see entities

    return alert_config_for(app.settings)


@alerts.command("list")
@click.option("--limit", type=int, default=20, show_default=True, help="Recent alerts shown.")
@format_option("table", "json")
@pass_app
def list_alerts(app: App, limit: int, fmt: str) -> None:
    """The rules, whether each can fire, and the latest alerts with their delivery status."""
    from pipeline.app.watch import alerts_report  # ahocorasick: see entities

    report = alerts_report(_config(app), app.warehouse, limit)
    rules, recent = report.rules, report.recent
    if fmt == "json":
        click.echo(
            json.dumps(
                plain({"file": report.source, "rules": rules, "alerts": recent}),
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rules:
        click.echo(f"no alert rules in {report.source or 'the alerts file'}")
    else:
        render_table(
            ["rule", "when", "channels", "state", "sent", "pending", "failed"],
            [
                (
                    r["rule"],
                    r["when"],
                    ", ".join(r["channels"]),
                    r["state"],
                    r["sent"],
                    r["pending"],
                    r["failed"],
                )
                for r in rules
            ],
            title=f"alert rules ({report.source})",
            max_width=70,
        )
    if recent:
        render_table(
            ["id", "raised", "rule", "story", "title", "status", "tries", "last error"],
            [
                (
                    a["id"],
                    a["created_at"],
                    a["rule"],
                    a["story_id"],
                    a["title"],
                    a["status"],
                    a["attempts"],
                    a["last_error"] or "",
                )
                for a in recent
            ],
            title="latest alerts",
            max_width=60,
        )


@alerts.command("test")
@click.argument("rule")
@pass_app
def test_alert(app: App, rule: str) -> None:
    """Send a test message through every channel of RULE."""
    from pipeline.alerts.deliver import send_test  # httpx, jinja2 (~0.5 s): this command's

    results = send_test(app.settings, _config(app), rule)
    for channel, ok, detail in results:
        click.echo(f"{channel}: {'ok' if ok else 'FAILED'}: {detail}")
    failed = [c for c, ok, _ in results if not ok]
    if failed:
        raise AlertError(f"test of rule {rule} failed on {', '.join(failed)}")


@alerts.command("replay")
@click.argument("alert_id", type=int)
@pass_app
def replay_alert(app: App, alert_id: int) -> None:
    """Send alert ALERT_ID again through its rule's channels, now."""
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) loads only
    # for the commands that send.
    from pipeline.alerts.deliver import replay
    from pipeline.app.jobs import writer_lock

    warehouse = app.warehouse
    config = _config(app)
    with writer_lock(warehouse, "alerts", wait_s=60):
        warehouse.check_current()
        report = replay(app.settings, warehouse, config, alert_id)
    for _, channel, status, detail in report.outcomes:
        click.echo(f"alert {alert_id} via {channel}: {status}: {detail}")
    if report.failed or report.retrying:
        raise AlertError(
            f"alert {alert_id} was not delivered everywhere; `newswatch alerts list` shows it"
        )
