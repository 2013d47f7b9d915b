"""Core commands: init, config, sql, status."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from pipeline.cli import cli
from pipeline.cli.app import App, pass_app
from pipeline.cli.output import render_table, to_csv, to_json
from pipeline.settings import render_settings
from pipeline.sqlguard import check_read_only


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create or migrate the warehouse and load the seed corpus (safe to re-run)."""
    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import sync_feeds, sync_seeds
    from pipeline.jobs import writer_lock

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
    for name in result.missing:
        console.print(f"[yellow]note:[/] seed {name} is stored but its file is gone; kept")
    click.echo(f"warehouse {warehouse.path}: {len(applied)} migration(s) applied; seeds: "
               f"{len(result.added)} added, {len(result.updated)} updated, "
               f"{len(result.unchanged)} unchanged; feeds: {feeds.added} added, "
               f"{feeds.updated} updated, {feeds.removed} no longer listed")


@cli.command("config")
@pass_app
def config_cmd(app: App) -> None:
    """Print the effective settings (secrets masked)."""
    click.echo(render_settings(app.settings), nl=False)


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--max-width", type=int, default=80, show_default=True,
              help="Longest cell shown in table format.")
@pass_app
def sql(app: App, query: str, fmt: str, max_width: int) -> None:
    """Run a read-only SQL QUERY against the warehouse."""
    with app.warehouse.connect(read_only=True, wait_s=30) as db:
        check_read_only(db.statement_types(query))
        try:
            columns, rows = db.columns_and_rows(query)
        except Exception as exc:  # DuckDB's own message is what the analyst needs
            from pipeline.errors import NewswatchError

            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise NewswatchError(f"query failed: {message}") from None
    if fmt == "csv":
        sys.stdout.write(to_csv(columns, rows))
    elif fmt == "json":
        click.echo(to_json(columns, rows))
    else:
        render_table(columns, rows, max_width=max_width)


@cli.command()
@pass_app
def status(app: App) -> None:
    """Feeds' health, last and next runs, articles per topic, row counts."""
    from pipeline.status import gather_status, render_status

    render_status(gather_status(app.settings, app.warehouse), Console())
