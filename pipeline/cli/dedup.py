"""`newswatch dedup`: recompute duplicates and stories (--rebuild), or check that every stored
duplicate overlaps its original (--verify)."""

from __future__ import annotations

import click
from rich.progress import Progress

from pipeline.cli.app import App, pass_app
from pipeline.dedup.overlap import OverlapInvariantError


@click.command()
@click.option(
    "--rebuild", is_flag=True, help="Recompute duplicates and stories of every stored article."
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check that every stored duplicate overlaps the article its duplicate_of names, "
    "with the current [dedup] settings; list those that do not and exit 1. After "
    "a threshold change, run --rebuild first: decisions made under the old "
    "thresholds are checked against the new ones.",
)
@pass_app
def dedup(app: App, rebuild: bool, verify: bool) -> None:
    """Recompute or check duplicate and story decisions (give --rebuild or --verify)."""
    if rebuild == verify:
        raise click.UsageError("give one of --rebuild or --verify")
    if verify:
        _verify(app)
    else:
        _rebuild(app)


def _rebuild(app: App) -> None:
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) loads only
    # for the commands that run it.
    from pipeline.app.jobs import rebuild_job
    from pipeline.ingest import Services

    services = Services(app.settings)
    with Progress(transient=True) as progress:
        task = progress.add_task("deduplicating", total=None)
        result = rebuild_job(
            services,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    stats = result.counts
    click.echo(
        f"{stats['articles']} articles: {stats['duplicates']} duplicates, "
        f"{stats['stories']} stories ({stats['merges']} merged into others); "
        f"{stats['changed']} decisions changed"
    )


def _verify(app: App) -> None:
    from pipeline.app.jobs import verify_job  # the ingest stack: see _rebuild

    result = verify_job(app.settings, app.warehouse)
    check = result.detail
    if not check.violations:
        click.echo(f"{check.checked} duplicates checked, all overlap their originals")
        return
    for v in check.violations:
        if v.overlap is None:
            figures = "duplicate_of names no stored article"
        else:
            figures = (
                f"jaccard {v.overlap.jaccard:.3f}, contained {v.overlap.contained:.3f}, "
                f"contains {v.overlap.contains:.3f}"
            )
        kind = v.kind or "-"
        click.echo(f"article {v.id}: duplicate_of {v.duplicate_of}, kind {kind}: {figures}")
    raise OverlapInvariantError(result.error)
