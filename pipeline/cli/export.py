"""`newswatch export DIR`: Parquet files partitioned by month, for a data lake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.app.export import export_parquet
from pipeline.cli.app import App, pass_app


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m"]),
    default=None,
    help="Rewrite only the months from this date on (YYYY-MM-DD or YYYY-MM).",
)
@click.option("--embeddings", is_flag=True, help="Also write the article vectors.")
@click.option(
    "--force",
    is_flag=True,
    help="Export into a non-empty folder that holds no export (its files are kept).",
)
@pass_app
def export(
    app: App, directory: Path, since: datetime | None, embeddings: bool, force: bool
) -> None:
    """Write articles (with topics and entities), stories and optionally vectors as Parquet
    under DIRECTORY, partitioned by month; readable by DuckDB, Spark or pandas. A later export
    replaces only the files an export wrote there."""
    warehouse = app.warehouse
    warehouse.check_current()
    result = export_parquet(
        warehouse,
        directory,
        embeddings=embeddings,
        force=force,
        since=since.replace(tzinfo=UTC) if since else None,
    )
    for name, rows in result.rows.items():
        months = result.months.get(name, ())
        span = f"{months[0]} to {months[-1]}" if months else "no month"
        click.echo(f"{name}: {rows} rows, {len(months)} month(s) ({span})")
    click.echo(f"written to {result.directory}")
