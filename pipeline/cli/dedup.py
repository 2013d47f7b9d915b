"""`newswatch dedup`: recompute duplicates and stories (--rebuild), or check that every stored
duplicate overlaps its original (--verify)."""

from __future__ import annotations

import click

from pipeline.cli.app import App, pass_app


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
    from rich.progress import Progress

    from pipeline.app.jobs import writer_lock
    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import rebuild_dedup

    services = Services(app.settings)
    with writer_lock(services.warehouse, "dedup", wait_s=60):
        services.warehouse.check_current()
        with Progress(transient=True, disable=None) as progress:
            task = progress.add_task("deduplicating", total=None)
            stats = rebuild_dedup(
                services, lambda done, total: progress.update(task, completed=done, total=total)
            )
    click.echo(
        f"{stats['articles']} articles: {stats['duplicates']} duplicates, "
        f"{stats['stories']} stories ({stats['merges']} merged into others); "
        f"{stats['changed']} decisions changed"
    )


def _verify(app: App) -> None:
    from pipeline.dedup.overlap import OverlapInvariantError, check_overlaps
    from pipeline.store.dedup import duplicates_with_originals

    warehouse = app.warehouse
    warehouse.check_current()
    with warehouse.connect(read_only=True, wait_s=30) as db:
        result = check_overlaps(duplicates_with_originals(db), app.settings.dedup)
    if not result.violations:
        click.echo(f"{result.checked} duplicates checked, all overlap their originals")
        return
    for v in result.violations:
        if v.overlap is None:
            figures = "duplicate_of names no stored article"
        else:
            figures = (
                f"jaccard {v.overlap.jaccard:.3f}, contained {v.overlap.contained:.3f}, "
                f"contains {v.overlap.contains:.3f}"
            )
        kind = v.kind or "-"
        click.echo(f"article {v.id}: duplicate_of {v.duplicate_of}, kind {kind}: {figures}")
    raise OverlapInvariantError(
        f"{len(result.violations)} of {result.checked} duplicates do not overlap the article "
        f"their duplicate_of names (`newswatch dedup --rebuild` recomputes them)"
    )
