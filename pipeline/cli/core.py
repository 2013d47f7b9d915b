"""Core commands: init, config, sql, status."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option
from pipeline.cli.sql_output import (
    EXPORT_FORMATS,
    check_destination,
    export_format,
    refuse_warehouse_files,
    write_table,
)
from pipeline.config.settings import render_settings
from pipeline.embed.factory import model_cache_dir
from pipeline.sql.guard import check_read_only
from pipeline.sql.run import run_query


@click.command()
@pass_app
def init(app: App) -> None:
    """Create or migrate the warehouse and load the seed corpus (safe to re-run)."""
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) loads only
    # for the commands that run it.
    from pipeline.app.jobs import writer_lock
    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import (
        index_for_search,
        index_leads,
        keep_texts,
        sync_feeds,
        sync_seeds,
    )

    console = Console(stderr=True)
    warehouse = app.warehouse
    # The daemon's jobs write too: init takes the same writer lock.
    with writer_lock(warehouse, "init", wait_s=60):
        applied = warehouse.migrate()
        for name in applied:
            console.print(f"applied migration {name}")
        services = Services(app.settings, warehouse=warehouse)
        with console.status("loading seed corpus (embedding model)…"):
            result = sync_seeds(services)
        feeds = sync_feeds(app.settings, warehouse)
        # A new analyzer version indexes every stored article again (minutes at 100,000).
        what = "indexing stored articles for full-text search"
        with console.status(f"{what}…") as status:
            indexed = index_for_search(
                warehouse, progress=lambda done, total: status.update(f"{what}: {done}/{total}")
            )
        what = "keeping stored articles' texts for the reading room"
        with console.status(f"{what}…") as status:
            kept = keep_texts(
                warehouse, progress=lambda done, total: status.update(f"{what}: {done}/{total}")
            )
        with console.status("reading stored articles' leads (multilingual model)…"):
            led = index_leads(services)
    if indexed:
        console.print(f"full-text index: {indexed} stored article(s) indexed")
    if kept:
        console.print(f"text store: {kept} stored article text(s) added")
    if led:
        console.print(f"cross-lingual: {led} stored article(s) given a multilingual lead vector")
    for name in result.missing:
        console.print(f"[yellow]note:[/] seed {name} is stored but its file is gone; kept")
    click.echo(
        f"warehouse {warehouse.path}: {len(applied)} migration(s) applied; seeds: "
        f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged; feeds: {feeds.added} added, "
        f"{feeds.updated} updated, {feeds.removed} no longer listed"
    )


@click.command("config")
@pass_app
def config_cmd(app: App) -> None:
    """Print the effective settings (secrets masked)."""
    click.echo(render_settings(app.settings), nl=False)


def _check_output(ctx: click.Context, app: App, output: Path, force: bool) -> None:
    # The warehouse's own files first: refusing them is the point, whatever their extension.
    settings = app.settings
    refuse_warehouse_files(
        output, app.warehouse.path, (model_cache_dir(settings), Path(settings.digest.outbox))
    )
    if export_format(output) is None:
        raise click.BadParameter(
            f"{output.name}: the format follows the extension, one of {', '.join(EXPORT_FORMATS)}",
            ctx=ctx,
            param_hint="'--output'",
        )
    if ctx.get_parameter_source("fmt") is ParameterSource.COMMANDLINE:
        raise click.UsageError(
            "--format is for stdout; with --output the file's extension sets the format", ctx=ctx
        )
    check_destination(output, force=force)


@click.command()
@click.argument("query")
@format_option()
@click.option(
    "--max-width",
    type=int,
    default=80,
    show_default=True,
    help="Longest cell shown in table format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this .csv, .json or .parquet file instead of stdout.",
)
@click.option("--force", is_flag=True, help="Let --output replace an existing file.")
@click.pass_context
@pass_app
def sql(
    app: App,
    ctx: click.Context,
    query: str,
    fmt: str,
    max_width: int,
    output: Path | None,
    force: bool,
) -> None:
    """Run a read-only SQL QUERY against the warehouse (it can reach no other file)."""
    if output is not None:
        _check_output(ctx, app, output, force)
    with app.warehouse.query_connection(wait_s=30) as db:
        check_read_only(db.statement_types(query))
        if output is not None:
            table = run_query(lambda: db.arrow_table(query), db.interrupt)
        else:
            columns, rows = run_query(lambda: db.columns_and_rows(query), db.interrupt)
    if output is not None:
        write_table(table, output, force=force)
        noun = "row" if table.num_rows == 1 else "rows"
        click.echo(f"{table.num_rows} {noun} written to {output}", err=True)
    else:
        emit(columns, rows, fmt, max_width=max_width)
