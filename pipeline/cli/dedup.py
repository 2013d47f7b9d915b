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

    from pipeline.ingest import Pipeline
    from pipeline.lock import job_lock

    pipe = Pipeline(app.settings)
    with job_lock(app.settings.warehouse.path, "dedup", wait_s=60):
        pipe.warehouse.check_current()
        with Progress(transient=True, disable=None) as progress:
            task = progress.add_task("deduplicating", total=None)
            stats = pipe.rebuild_dedup(lambda done, total: progress.update(
                task, completed=done, total=total))
    click.echo(f"{stats['articles']} articles: {stats['duplicates']} duplicates, "
               f"{stats['stories']} stories; {stats['changed']} decisions changed")
