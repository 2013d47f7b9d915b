"""`newswatch digest`: print, preview or send a week's digest."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.app import App, pass_app
from pipeline.errors import NewswatchError


@click.command()
@click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="ISO week in [schedule] timezone (default: the last complete week).",
)
@click.option(
    "--send",
    "send_it",
    is_flag=True,
    help="Deliver it: by SMTP, or to the outbox when no SMTP host is set.",
)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a standalone HTML file to look at in a browser.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --send: deliver even if already sent, or before the week has ended "
    "(then it is not marked sent).",
)
@pass_app
def digest(app: App, week: str | None, send_it: bool, preview: str | None, force: bool) -> None:
    """Build the weekly digest; print it as text unless --send or --preview is given."""
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) and the digest's
    # (jinja2, babel: ~0.1 s) load only for this command.
    from pipeline.app.jobs import digest_job
    from pipeline.digest.deliver import load_digest
    from pipeline.digest.model import (
        WeekNotEndedError,
        ensure_week_ended,
        last_complete_week,
        week_of,
    )
    from pipeline.digest.render import render

    if send_it and preview:
        raise click.UsageError("use either --send or --preview")
    settings = app.settings
    now = datetime.now(UTC)
    target = (
        week_of(week, settings.schedule.timezone)
        if week
        else last_complete_week(now, settings.schedule.timezone)
    )
    if send_it:
        # deliver_digest refuses too; checking first spares the writer lock and a failed run row.
        if not force:
            try:
                ensure_week_ended(target, now)
            except WeekNotEndedError as exc:
                raise WeekNotEndedError(
                    f"{exc}; --force sends it now without marking it sent"
                ) from None
        result = digest_job(settings, app.warehouse, week=target.label, force=force, now=now)
        outcome = result.detail
        if outcome is None:
            raise NewswatchError(f"digest failed: {result.error}")
        if outcome.status == "failed":
            raise NewswatchError(f"digest {outcome.week} not sent: {outcome.error}")
        messages = {
            "sent": f"digest {outcome.week} sent to {', '.join(settings.digest.recipients)}",
            "written": f"no SMTP host set: digest {outcome.week} written to "
            f"{', '.join(outcome.files)}",
            "already_sent": f"digest {outcome.week} was already sent; --force sends it again",
            "skipped_empty": f"nothing new in {outcome.week}; no digest (digest.send_empty is "
            f"false)",
        }
        line = messages.get(outcome.status, outcome.status)
        if not outcome.week_ended:
            line += " (the week has not ended: not marked sent, the weekly digest still goes out)"
        click.echo(line)
        return
    model = load_digest(settings, app.warehouse, target)
    rendered = render(model, settings)
    if preview:
        Path(preview).write_text(rendered.standalone_html, encoding="utf-8")
        click.echo(f"wrote {preview} ({rendered.subject})")
        return
    sys.stdout.write(f"Subject: {rendered.subject}\n\n{rendered.text}")
