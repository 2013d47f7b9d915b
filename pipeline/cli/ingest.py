"""`newswatch ingest`: one cycle now, with progress bars and a summary."""

from __future__ import annotations

import click
from rich.console import Console

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import render_table
from pipeline.errors import NewswatchError


@click.command()
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="URL_OR_PATH",
    help="Poll this feed now, due or not (repeatable); default: every due feed.",
)
@pass_app
def ingest(app: App, feeds: tuple[str, ...]) -> None:
    """Run one ingest cycle: poll feeds, fetch and store new articles, print a summary."""
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) loads only
    # for the commands that run it.
    from pipeline.app.jobs import ingest_job
    from pipeline.cli.progress import RichReporter
    from pipeline.ingest import Services

    services = Services(app.settings)
    with RichReporter() as reporter:
        result = ingest_job(services, feeds=list(feeds) or None, reporter=reporter, setup=True)
    if result.status == "error":
        raise NewswatchError(f"ingest failed: {result.error}")
    c = result.counts
    console = Console()
    rows = [
        ("feeds polled", c["feeds_polled"]),
        ("  failed", c["feeds_failed"]),
        ("  not modified", c["feeds_not_modified"]),
        ("entries seen", c["entries_seen"]),
        ("  new", c["new_entries"]),
        ("  already stored (URL)", c["known_urls"]),
        ("new articles", c["articles_new"]),
        ("  text from page", c["from_page"]),
        ("  text from feed", c["from_feed"]),
        ("  duplicates", c["duplicates"]),
        ("  deferred (robots.txt 5xx)", c["deferred"]),
    ]
    rows += [(f"topic {k}", v) for k, v in c["per_topic"].items()]
    render_table(
        ["", "count"],
        rows,
        title=f"ingest: {result.status} in {result.seconds:.1f} s",
        console=console,
    )
    summary = result.detail
    for line in summary.feed_errors[:20]:
        console.print(f"[red]feed error[/] {line}", markup=True, highlight=False)
    if len(summary.feed_errors) > 20:
        console.print(f"… and {len(summary.feed_errors) - 20} more feed errors")
