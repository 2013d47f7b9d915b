"""`newswatch feeds`: list with health, add, remove, import/export OPML, check now."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from pipeline.app.status import check_feeds, feed_list
from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option, render_table
from pipeline.errors import NewswatchError
from pipeline.models import FeedConfig
from pipeline.store import feeds as feed_store


@click.group()
def feeds() -> None:
    """Manage the feeds list (config/feeds.toml) and see each feed's health."""


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


@feeds.command("list")
@format_option()
@pass_app
def list_feeds(app: App, fmt: str) -> None:
    """List feeds with their health (from the warehouse, when it exists)."""
    rows = feed_list(app.settings, app.warehouse)
    if fmt != "table":
        columns = list(rows[0]) if rows else ["url"]
        emit(columns, [[r[c] for c in columns] for r in rows], fmt)
        return
    render_table(
        ["feed", "health", "errors", "last poll", "next poll", "last error"],
        [
            (
                f"{r['title']}\n{r['url']}"
                + (f"\nmoved to {r['moved_to']}" if r["moved_to"] else "")
                + (
                    "\nallow_private: its links may be private addresses"
                    if r["allow_private"]
                    else ""
                ),
                r["health"],
                r["errors"],
                _when(r["last_polled_at"]),
                _when(r["next_poll_at"]),
                r["last_error"] or "",
            )
            for r in rows
        ],
        title=f"{len(rows)} feeds in {app.settings.feeds.file}",
        max_width=70,
    )


@feeds.command("add")
@click.argument("url")
@click.option("--title", default=None, help="Display title.")
@click.option(
    "--interval",
    "interval_s",
    type=click.IntRange(1, 7 * 86400),
    default=None,
    help="Poll interval in seconds (default: [feeds] default_interval_s).",
)
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@pass_app
def add(
    app: App, url: str, title: str | None, interval_s: int | None, tags: tuple[str, ...]
) -> None:
    """Add a feed URL (or a local file path) to the feeds file."""
    from pipeline.feeds.config import add_feeds  # lxml and tomlkit (~30 ms): this command's

    if "://" not in url and Path(url).exists():
        url = str(Path(url).resolve())
    added = add_feeds(app.settings.feeds.file, [FeedConfig(url, title, interval_s, tags)])
    if not added:
        raise NewswatchError(f"{url} is already in {app.settings.feeds.file}")
    if app.warehouse.exists():
        with app.warehouse.transaction(wait_s=30) as db:
            feed_store.set_enabled(db, url, True)  # re-adding a disabled feed revives it
    click.echo(f"added {url} to {app.settings.feeds.file}; it is polled on the next cycle")


@feeds.command("remove")
@click.argument("url")
@pass_app
def remove(app: App, url: str) -> None:
    """Remove a feed from the feeds file (its stored articles stay)."""
    from pipeline.feeds.config import remove_feed  # lxml and tomlkit (~30 ms): this command's

    if not remove_feed(app.settings.feeds.file, url):
        raise NewswatchError(f"{url} is not in {app.settings.feeds.file}")
    click.echo(f"removed {url} from {app.settings.feeds.file}")


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def import_opml(app: App, opml_file: str) -> None:
    """Add the feeds of an OPML file (already listed ones are skipped)."""
    from pipeline.feeds.config import add_feeds, parse_opml  # lxml, tomlkit: this command's

    found = parse_opml(Path(opml_file).read_bytes())
    added = add_feeds(app.settings.feeds.file, found)
    click.echo(
        f"{len(found)} feeds in {opml_file}: {len(added)} added, "
        f"{len(found) - len(added)} already listed"
    )


@feeds.command("export")
@click.argument("opml_file", type=click.Path(dir_okay=False), required=False)
@pass_app
def export_opml(app: App, opml_file: str | None) -> None:
    """Write the feeds as OPML to a file (default: standard output)."""
    from pipeline.feeds.config import load_feeds, render_opml  # lxml, tomlkit: this command's

    text = render_opml(
        load_feeds(app.settings.feeds.file, missing_ok=app.settings.feeds.allow_missing)
    )
    if opml_file:
        Path(opml_file).write_text(text, encoding="utf-8")
        click.echo(f"wrote {opml_file}", err=True)
    else:
        sys.stdout.write(text)


@feeds.command("check")
@click.argument("urls", nargs=-1)
@pass_app
def check(app: App, urls: tuple[str, ...]) -> None:
    """Fetch and parse feeds now and report, storing nothing (default: every listed feed)."""
    from pipeline.feeds.config import load_feeds  # lxml and tomlkit (~30 ms): this command's

    targets = list(urls) or [
        f.url
        for f in load_feeds(app.settings.feeds.file, missing_ok=app.settings.feeds.allow_missing)
    ]
    if not targets:
        raise NewswatchError(f"no feeds listed in {app.settings.feeds.file}")
    outcomes = check_feeds(app.settings, targets)
    rows = [
        (
            u,
            o.status,
            o.http_status or "",
            len(o.entries),
            f"{o.error_kind}: {o.error_message}" if o.error_kind else (o.bozo_reason or ""),
        )
        for u, o in zip(targets, outcomes, strict=True)
    ]
    render_table(
        ["feed", "status", "http", "entries", "problem"],
        rows,
        title="feed check (nothing stored)",
        console=Console(),
        max_width=70,
    )
    if any(o.status in ("error", "gone") for o in outcomes):
        click.echo(
            f"{sum(o.status in ('error', 'gone') for o in outcomes)} of {len(outcomes)} "
            f"feeds failed",
            err=True,
        )
