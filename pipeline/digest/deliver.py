"""Delivering a week's digest once: read the warehouse, build, render, and mail or write it.

The only module of the digest that touches the warehouse (through pipeline/store/digests.py)
or the `digests` table; jobs.py and `newswatch digest` call it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from pipeline.config.settings import Settings
from pipeline.digest import mail
from pipeline.digest.model import (
    DigestModel,
    Week,
    build_digest,
    ensure_week_ended,
    last_complete_week,
    week_of,
)
from pipeline.digest.render import RenderedDigest, render
from pipeline.errors import ConfigError
from pipeline.store import digests as digest_store
from pipeline.store.db import Warehouse
from pipeline.tag.topics import load_topics

log = logging.getLogger(__name__)


def topic_labels(settings: Settings) -> dict[str, str]:
    """Topic slugs and labels, in file order; {} with a warning when the topics file is invalid."""
    try:
        topics = load_topics(settings.topics.file, settings.seeds.dir)
    except ConfigError as exc:
        # The week's stories are stored already: a broken topics file must not cost the week its
        # digest. It goes out with sections named by slug, and the log says why (the message
        # names the file and the problem; the ingest fails on the same file until it is fixed).
        log.warning("digest: topic labels unavailable, sections are named by topic slug: %s", exc)
        return {}
    return {t.slug: t.label for t in topics}


@dataclass(frozen=True)
class DigestOutcome:
    """What delivering a week's digest did."""

    week: str
    status: str  # sent | written | skipped_empty | already_sent | failed
    message_id: str | None = None
    subject: str | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    week_ended: bool = True  # False: delivered early (forced), and no digests row claims it


def load_digest(
    settings: Settings, warehouse: Warehouse, week: Week, now: datetime | None = None
) -> DigestModel:
    """Read a week's rows (one short read-only connection) and build its digest."""
    prev = week.previous()
    with warehouse.connect(read_only=True, wait_s=60) as db:
        rows = digest_store.week_rows(db, week.start, week.end)
        previous_rows = digest_store.week_rows(db, prev.start, prev.end)
        failing = digest_store.failing_feeds(db, week.start, week.end)
    labels = topic_labels(settings)
    # The week before is folded the same way, so that its figures follow COUNT_RULE too and
    # "+1 vs the week before" compares like with like.
    previous = build_digest(prev, previous_rows, {}, (), labels, now=now).counts()
    return build_digest(
        week,
        rows,
        previous,
        failing,
        labels,
        max_stories=settings.digest.max_stories_per_topic,
        now=now,
        base_url=settings.web.base_url,
    )


def deliver_digest(
    settings: Settings,
    warehouse: Warehouse,
    *,
    week: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> DigestOutcome:
    """Build and deliver one week's digest, once: by SMTP when a host is set, else to the
    outbox. Never raises for a failed send: the `digests` row records it for a later retry.

    A week that has not ended at `now` raises WeekNotEndedError; with `force` it is delivered
    all the same but never recorded, so the real digest still goes out once the week is over.
    """
    now = now or datetime.now(UTC)
    tz = settings.schedule.timezone
    target = week_of(week, tz) if week else last_complete_week(now, tz)
    ended = target.end <= now
    if not force:
        ensure_week_ended(target, now)
        done = _already_delivered(warehouse, target)
        if done is not None:
            return done
    model = load_digest(settings, warehouse, target, now)
    counts = model.counts()
    if model.empty and not settings.digest.send_empty:
        if ended:
            with warehouse.transaction() as db:
                digest_store.record(db, target.label, "skipped_empty", counts=counts)
        return DigestOutcome(target.label, "skipped_empty", counts=counts, week_ended=ended)
    rendered = render(model, settings)
    message = mail.build_message(rendered, settings, now=now)
    status, error, files = _send_or_write(message, rendered, settings, target.label)
    _record(warehouse, target.label, ended, status, message, settings, counts, error)
    return DigestOutcome(
        target.label,
        status,
        message["Message-ID"],
        message["Subject"],
        error,
        counts,
        files,
        week_ended=ended,
    )


def _record(
    warehouse: Warehouse,
    label: str,
    ended: bool,
    status: str,
    message: EmailMessage,
    settings: Settings,
    counts: dict[str, int],
    error: str | None,
) -> None:
    """Record the week's delivery in `digests` when the week has ended (else only log it)."""
    # A digests row is the claim "this week's digest is done": sent, written and skipped_empty
    # rows make every later run skip the week. A week delivered before it ended holds only part
    # of its stories, so it gets no row at all (not even a failed one): nothing can then stop
    # the real digest once the week is over, and the table keeps its four documented statuses.
    if ended:
        with warehouse.transaction() as db:
            digest_store.record(
                db,
                label,
                status,
                message_id=message["Message-ID"],
                subject=message["Subject"],
                recipients=settings.digest.recipients,
                counts=counts,
                error=error,
                sent=status in ("sent", "written"),
            )
    elif status != "failed":
        log.warning(
            "digest %s %s before the week ended; not recorded, so the weekly digest "
            "still goes out once the week is over",
            label,
            status,
        )


def _already_delivered(warehouse: Warehouse, target: Week) -> DigestOutcome | None:
    """The outcome "already_sent" when the week's digest was sent, written or skipped."""
    with warehouse.connect(read_only=True, wait_s=60) as db:
        previous = digest_store.get_digest(db, target.label)
    if previous and previous["status"] in ("sent", "written", "skipped_empty"):
        return DigestOutcome(
            target.label, "already_sent", previous.get("message_id"), previous.get("subject")
        )
    return None


def _send_or_write(
    message: EmailMessage, rendered: RenderedDigest, settings: Settings, label: str
) -> tuple[str, str | None, tuple[str, ...]]:
    """Send the message by SMTP when a host is set, else write it to the outbox: the status,
    the error of a failed send, and the files written."""
    if not settings.smtp.host:
        written = mail.write_outbox(message, rendered, settings.digest.outbox, label)
        return "written", None, tuple(str(p) for p in written)
    try:
        mail.send(message, settings.smtp, settings.digest)
    except mail.SendError as exc:
        log.warning("digest %s not sent: %s", label, exc)
        return "failed", str(exc), ()
    return "sent", None, ()
