"""`newswatch dedup --rebuild`: recompute duplicates and stories after a threshold change."""

from __future__ import annotations

import click

from pipeline.cli import cli
from pipeline.cli.app import App, pass_app


@cli.command()
@click.option("--rebuild", is_flag=True, required=True,
              help="Recompute duplicates and stories of every stored article.")
@pass_app
def dedup(app: App, rebuild: bool) -> None:
    """Recompute duplicate and story decisions with the current [dedup] settings."""
    from rich.progress import Progress

    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import rebuild_dedup
    from pipeline.jobs import writer_lock

    services = Services(app.settings)
    with writer_lock(services.warehouse, "dedup", wait_s=60):
        services.warehouse.check_current()
        with Progress(transient=True, disable=None) as progress:
            task = progress.add_task("deduplicating", total=None)
            stats = rebuild_dedup(services, lambda done, total: progress.update(
                task, completed=done, total=total))
    click.echo(f"{stats['articles']} articles: {stats['duplicates']} duplicates, "
               f"{stats['stories']} stories; {stats['changed']} decisions changed")
