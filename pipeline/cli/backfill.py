"""`newswatch backfill`: news archives (WARC files) into the warehouse, on a Dask cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
from rich.console import Console

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option, render_table
from pipeline.errors import NewswatchError

if TYPE_CHECKING:
    from pipeline.backfill.summary import BackfillSummary


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Keep pages published on or after this date (UTC).",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Keep pages published before this date (UTC).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Local Dask worker processes (default: one per core); 0: no cluster, "
    "everything in this process.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Use an existing Dask cluster, e.g. tcp://host:8786 (its workers need "
    "newswatch installed and the archive files reachable).",
)
@click.option(
    "--dry-run", is_flag=True, help="Read and filter, write nothing; list what would be stored."
)
@format_option("table", "json", help="Output of --dry-run's listing.")
@pass_app
def backfill(
    app: App,
    sources: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    workers: int | None,
    scheduler: str | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Backfill news archives: SOURCE is a WARC(.gz) file, a folder or glob of them, or a text
    file listing them (paths or URLs). Finished files are skipped on a rerun."""
    # Deferred: backfill loads Dask, fastwarc, fsspec and the ingest stack (~2 s), for this
    # command alone.
    from pipeline.backfill.run import BackfillOptions, run_backfill
    from pipeline.cli.progress import BackfillBar
    from pipeline.ingest import Services

    if workers is not None and scheduler:
        raise click.UsageError("--workers and --scheduler exclude each other")
    since, until = _utc(since), _utc(until)
    if since and until and since >= until:
        raise click.UsageError("--since must be before --until")
    options = BackfillOptions(
        since=since, until=until, dry_run=dry_run, workers=workers, scheduler=scheduler
    )
    services = Services(app.settings)
    with BackfillBar() as bar:
        summary = run_backfill(services, list(sources), options, progress=bar)
    _print_summary(summary, dry_run, fmt)


def _print_summary(summary: BackfillSummary, dry_run: bool, fmt: str) -> None:
    """The dry run's listing (stdout), the counts table, the files that failed (then exit 1)."""
    c = summary.counts
    console = Console(stderr=dry_run)  # a dry run's listing owns stdout
    if dry_run:
        emit(
            ["published", "url", "title", "passed by", "file"],
            [
                (
                    (d.published_at or d.fetched_at).strftime("%Y-%m-%d %H:%M"),
                    d.url,
                    d.title,
                    why,
                    d.archive_source,
                )
                for d, why in summary.would_store
            ],
            fmt,
            title=f"would store {c['stored']} articles (listing {len(summary.would_store)}; "
            f"duplicates are decided only when storing)",
        )
    rows = [
        ("archive files", c["sources"]),
        ("  done", c["sources_done"]),
        ("  skipped (finished before)", c["sources_skipped"]),
        ("  failed", c["sources_failed"]),
        ("records read", c["records"]),
        ("  bad (truncated)", c["bad_records"]),
        ("  not a web URL (skipped)", c["not_web_urls"]),
        ("  over the size cap (skipped)", c["too_large"]),
        ("HTML pages (200)", c["html_pages"]),
        ("  extracted", c["extracted"]),
        ("  in --since/--until", c["in_window"]),
        ("  passed prefilter", c["passed_prefilter"]),
        ("  already stored (URL)", c["known_urls"]),
        ("would store" if dry_run else "stored", c["stored"]),
    ]
    if not dry_run:
        rows.append(("  duplicates", c["duplicates"]))
    pages_s = c["html_pages"] / summary.seconds if summary.seconds else 0.0
    render_table(
        ["", "count"],
        rows,
        console=console,
        title=f"backfill{' (dry run)' if dry_run else ''}: {summary.seconds:.1f} s, "
        f"{pages_s:.1f} pages/s, "
        f"{c['workers'] or 'no'} workers",
    )
    if summary.failed:
        for path, error in summary.failed[:20]:
            console.print(f"[red]failed[/] {path}: {error}", markup=True, highlight=False)
        # Non-zero: a script or an operator must notice that files were not read; a rerun
        # reads only those (finished files are skipped).
        raise NewswatchError(
            f"{len(summary.failed)} of {c['sources']} archive files failed "
            f"and were skipped: {', '.join(p for p, _ in summary.failed)}"
        )
