"""`newswatch search`: hybrid search over the warehouse, one line per story (read-only)."""

from __future__ import annotations

import click

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option

_TABLE = ("rank", "reports", "published", "title", "site", "why", "passage")


@click.command()
@click.argument("query", required=False)
@click.option(
    "--saved",
    "saved_name",
    metavar="NAME",
    help="Run a saved search of config/searches.toml (options given here override it).",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="Only articles published since: 12h, 30d, 2w, 6m or a date YYYY-MM-DD.",
)
@click.option("--topic", metavar="SLUG", help="Only articles with this topic.")
@click.option("--entity", metavar="NAME", help="Only articles naming this watchlist entity.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=None, help="Stories shown (default 20)."
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "text", "meaning"]),
    default=None,
    help="Rank by full text and meaning fused (default), or by one of them.",
)
@format_option()
@click.option(
    "--max-width",
    type=int,
    default=60,
    show_default=True,
    help="Longest cell shown in table format.",
)
@pass_app
def search(
    app: App,
    query: str | None,
    saved_name: str | None,
    since: str | None,
    topic: str | None,
    entity: str | None,
    limit: int | None,
    mode: str | None,
    fmt: str,
    max_width: int,
) -> None:
    """Search stored articles for QUERY by words and meaning; one line per story.

    Words match in any inflection; "quoted phrases" must appear as written. Each story shows
    its best-matching report, the passage that matched and why (words found, meaning score,
    ranks in the full-text and meaning rankings).
    """
    # Deferred: search loads PyStemmer and ahocorasick (~35 ms), for this command alone.
    from pipeline.search.request import RECORD_FIELDS, resolve_search, run_search

    if (query is None) == (saved_name is None):
        raise click.UsageError("give a QUERY or --saved NAME (not both)")
    try:
        spec = resolve_search(
            app.settings,
            query,
            saved=saved_name,
            since=since,
            topic=topic,
            entity=entity,
            limit=limit,
            mode=mode,
        )
    except ValueError as exc:  # --since (or the saved search's since) is not a time
        raise click.BadParameter(str(exc), param_hint="'--since'") from None
    report = run_search(app.settings, app.warehouse, spec)
    if report.unindexed:
        click.echo(
            f"note: {report.unindexed} stored article(s) are not in the full-text index yet; "
            f"`newswatch init` indexes them",
            err=True,
        )
    columns = _TABLE if fmt == "table" else RECORD_FIELDS
    if not report.records and fmt == "table":
        click.echo("no stories found", err=True)
        return
    n = len(report.records)
    emit(
        columns,
        [[r[c] for c in columns] for r in report.records],
        fmt,
        max_width=max_width,
        title=f"{n} stor{'y' if n == 1 else 'ies'} for {report.query!r}",
    )
