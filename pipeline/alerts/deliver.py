"""The outbox: deliver the alerts that are due, record each outcome, retry later with backoff.

Every delivery (one alert, one channel) is read from `alert_deliveries`, sent (send.py), and its
outcome recorded in its own short transaction right away: sent; pending again with a later
`next_attempt_at` (capped exponential backoff, pipeline/feeds/schedule.py) after a failure that may
pass; failed after a permanent one or after [alerts] max_attempts rounds. A process that dies
between a send and its record sends that one delivery again at the next start: the receiver
sees the same Idempotency-Key header (webhooks) or Message-ID (mail) twice and can drop it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.alerts.config import AlertConfig
from pipeline.alerts.send import DeliveryError, sample_message, send
from pipeline.config.settings import AlertsSettings, Settings
from pipeline.errors import AlertError
from pipeline.feeds.schedule import backoff_delay
from pipeline.models import AlertMessage
from pipeline.net.urls import room_url
from pipeline.store import alerts as alerts_store
from pipeline.store.db import Warehouse

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one round of deliveries did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    outcomes: list[tuple[int, str, str, str]] = field(
        default_factory=list
    )  # id, channel, status, detail


def message_of(
    row: Mapping[str, Any], sources: Sequence[str] = (), base_url: str = ""
) -> AlertMessage:
    """An alert as its channels say it, from its outbox row (with a link to its story in the
    reading room when `base_url` is set)."""
    try:
        reasons = tuple(json.loads(row.get("evidence") or "{}").get("matched", []))
    except ValueError:
        reasons = ()
    return AlertMessage(
        alert_id=int(row["alert_id"]),
        rule=row["rule"],
        story_id=row.get("story_id"),
        article_id=row.get("article_id"),
        title=row.get("title") or "(untitled)",
        url=row.get("url") or "",
        source=row.get("source_name") or "",
        published_at=row.get("published_at"),
        reasons=reasons,
        sources=tuple(sources),
        created_at=row.get("created_at"),
        story_page=(
            room_url(base_url, f"/stories/{row['story_id']}") if row.get("story_id") else ""
        ),
        mark_page=(
            room_url(base_url, f"/articles/{row['article_id']}") if row.get("article_id") else ""
        ),
    )


def deliver_due(
    settings: Settings,
    warehouse: Warehouse,
    config: AlertConfig,
    *,
    alert_ids: Sequence[int] | None = None,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
) -> DeliveryReport:
    """Deliver every pending delivery whose time has come (or those of some alerts) and record
    each outcome at once."""
    report = DeliveryReport()
    now = datetime.now(UTC)
    with warehouse.connect(read_only=True) as db:
        due = alerts_store.due_deliveries(db, now, alert_ids)
        reports = alerts_store.story_reports(db, [d["story_id"] for d in due])
    for row in due:
        if cancel is not None and cancel.is_set():
            break
        sources = list(dict.fromkeys(s for _, s, _ in reports.get(row["story_id"], [])))
        msg = message_of(row, sources, settings.web.base_url)
        name = row["channel"]
        attempts = int(row["attempts"]) + 1
        try:
            channel = config.channels.get(name)
            if channel is None:
                raise DeliveryError(
                    f"channel {name} is no longer in {config.source}", permanent=True
                )
            detail = send(msg, channel, settings, env=env, cancel=cancel)
        except DeliveryError as exc:
            detail = str(exc)
            status, next_at = _after_failure(exc, msg, name, attempts, settings.alerts)
            _record(warehouse, msg.alert_id, name, status, attempts, detail, next_at, None)
        else:
            status = "sent"
            log.info(
                "alert %d (rule %s) delivered via %s: %s", msg.alert_id, msg.rule, name, detail
            )
            _record(
                warehouse,
                msg.alert_id,
                name,
                status,
                attempts,
                None,
                None,
                datetime.now(UTC),
            )
        if status == "sent":
            report.sent += 1
        elif status == "pending":
            report.retrying += 1
        else:
            report.failed += 1
        report.outcomes.append((int(msg.alert_id or 0), name, status, detail))
    return report


def _after_failure(
    exc: DeliveryError, msg: AlertMessage, channel: str, attempts: int, a: AlertsSettings
) -> tuple[str, datetime | None]:
    """What a failed delivery becomes, logged: failed (permanent, or out of rounds), or pending
    again after a backoff (never before the receiver asked)."""
    if exc.permanent or attempts >= a.max_attempts:
        log.error(
            "alert %d (rule %s) not delivered via %s, given up after %d "
            "round(s): %s; `newswatch alerts replay %d` sends it again",
            msg.alert_id,
            msg.rule,
            channel,
            attempts,
            exc,
            msg.alert_id,
        )
        return "failed", None
    wait = backoff_delay(attempts, a.backoff_base_s, a.backoff_cap_s, random.Random())
    if exc.retry_after_s is not None:
        # Not before the receiver asked (429, 503), within the longest wait.
        wait = max(wait, min(exc.retry_after_s, a.backoff_cap_s))
    next_at = datetime.now(UTC) + timedelta(seconds=wait)
    log.warning(
        "alert %d (rule %s) not delivered via %s (round %d of %d): %s; trying again after %s",
        msg.alert_id,
        msg.rule,
        channel,
        attempts,
        a.max_attempts,
        exc,
        next_at.isoformat(timespec="seconds"),
    )
    return "pending", next_at


def _record(
    warehouse: Warehouse,
    alert_id: int | None,
    channel: str,
    status: str,
    attempts: int,
    error: str | None,
    next_at: datetime | None,
    sent_at: datetime | None,
) -> None:
    try:
        with warehouse.transaction() as db:
            alerts_store.record_delivery(
                db,
                int(alert_id or 0),
                channel,
                status=status,
                attempts=attempts,
                error=error,
                next_attempt_at=next_at,
                sent_at=sent_at,
            )
    except Exception as exc:  # it stays pending, and goes out again at the next round
        log.error(
            "alert %s via %s: outcome %s not recorded (%s); it will be sent again",
            alert_id,
            channel,
            status,
            exc,
        )


def replay(
    settings: Settings, warehouse: Warehouse, config: AlertConfig, alert_id: int
) -> DeliveryReport:
    """Send a stored alert again through its rule's channels, now."""
    with warehouse.transaction() as db:
        alert = alerts_store.get_alert(db, alert_id)
        if alert is None:
            raise AlertError(f"no alert {alert_id}; `newswatch alerts list` shows them")
        rule = config.rule(alert["rule"])
        channels = rule.channels if rule else [d["channel"] for d in alert["deliveries"]]
        alerts_store.replay(db, alert_id, channels)
    return deliver_due(settings, warehouse, config, alert_ids=[alert_id])


def send_test(
    settings: Settings, config: AlertConfig, rule_name: str, env: Mapping[str, str] | None = None
) -> list[tuple[str, bool, str]]:
    """Send a test message through every channel of a rule: (channel, delivered, detail)."""
    rule = config.rule(rule_name)
    if rule is None:
        known = ", ".join(r.name for r in config.rules) or "none"
        raise AlertError(
            f"no rule {rule_name!r} in {config.source or 'the alerts file'} (rules: {known})"
        )
    msg = sample_message(rule.name)
    out = []
    for name in rule.channels:
        try:
            out.append((name, True, send(msg, config.channels[name], settings, env=env)))
        except DeliveryError as exc:
            out.append((name, False, str(exc)))
    return out
