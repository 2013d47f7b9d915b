"""One delivery of one alert through one channel: a webhook POST (through pipeline/net/http.py, with
its private-address guard), an e-mail (through pipeline/net/smtp.py, or the outbox folder when no
SMTP host is set), or a log line.

A webhook is tried up to [alerts] attempts_per_cycle times with backoff (pipeline/retry.py) while
its failures are of the kind that passes (timeouts, refused connections, 5xx, 408, 429), never
sooner than a 429's or 503's Retry-After asks (a longer one waits for a later round); SMTP
retries on its own ([smtp] retries). A webhook on a private or loopback address needs its own
channel's `allow_private` ([http] allow_private_networks is about feeds' links). Webhook URLs
and header values come from the environment and never appear in an error message or a log line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.alerts.message import (
    build_email,
    headline,
    json_payload,
    ntfy_payload,
    ntfy_target,
    slack_payload,
    text_body,
)
from pipeline.alerts.rules import Channel
from pipeline.config.settings import HttpSettings, Settings
from pipeline.errors import AlertError, FetchError, MailError
from pipeline.models import AlertMessage
from pipeline.net.http import Fetcher
from pipeline.net.smtp import send_mail
from pipeline.retry import backoff

log = logging.getLogger(__name__)

_TRANSIENT_KINDS = {"timeout", "connect", "dns", "protocol", "tls", "http_5xx"}


class DeliveryError(AlertError):
    """A delivery failed; `permanent`: trying again later will not help (fix and replay);
    `retry_after_s`: the receiver asked to wait this long before the next try."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


def delivery_key(msg: AlertMessage, channel: str) -> str:
    """The same key for every try of one delivery, so a receiver can drop a repeat."""
    return (
        f"newswatch-alert-{msg.alert_id}-{channel}"
        if msg.alert_id is not None
        else f"newswatch-test-{msg.rule}-{channel}-{int(datetime.now().timestamp())}"
    )


def send(
    msg: AlertMessage,
    channel: Channel,
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Deliver one alert through one channel; return what happened (for the log). Raise
    DeliveryError when it was not delivered."""
    env = os.environ if env is None else env
    if channel.type == "log":
        log.info(
            "alert %s",
            text_body(msg).replace("\n", " | "),
            extra={"alert_id": msg.alert_id, "rule": msg.rule},
        )
        return "logged"
    if channel.type == "email":
        return _email(msg, channel, settings)
    return _webhook(msg, channel, settings, env, cancel)


def _redact(text: str, url: str) -> str:
    """An error message without the webhook URL's secret parts (path, query, user)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}/…"
    for secret in filter(
        None,
        (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query, parts.password),
    ):
        if len(secret) > 1:
            text = text.replace(secret, shown if secret == url else "…")
    return text


def _webhook(
    msg: AlertMessage,
    channel: Channel,
    settings: Settings,
    env: Mapping[str, str],
    cancel: threading.Event | None,
) -> str:
    """POST the alert to the channel's webhook, retried in this round while failures pass."""
    url = _webhook_url(channel, env)
    target, body, headers = _webhook_request(msg, channel, url, env)
    http = _webhook_http(settings)
    a = settings.alerts

    def warn(attempt: int, exc: BaseException, wait: float) -> None:
        log.warning(
            "alert %s via %s: try %d failed (%s); trying again in %.1f s",
            msg.alert_id,
            channel.name,
            attempt,
            _redact(str(exc), url),
            wait,
        )

    try:
        for attempt in backoff(
            first_s=a.retry_delay_s,
            max_s=max(a.retry_delay_s * 8, 0.01),
            attempts=a.attempts_per_cycle,
            retry_if=_transient,
            on_retry=warn,
            stop=cancel,
            asked_wait=_asked_wait,
        ):
            with attempt:
                result = asyncio.run(_post(http, target, body, headers, channel.allow_private))
    except FetchError as exc:
        raise _webhook_error(exc, channel, url, target) from None
    return f"HTTP {result.status}"


def _webhook_url(channel: Channel, env: Mapping[str, str]) -> str:
    """The webhook's URL from the environment; DeliveryError (permanent) when unset or not web."""
    missing = channel.missing_env(env)
    if missing:
        raise DeliveryError(
            f"channel {channel.name}: {', '.join(missing)} not set in the environment",
            permanent=True,
        )
    url = env[channel.url_env].strip()
    if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
        raise DeliveryError(
            f"channel {channel.name}: {channel.url_env} is not an http(s) URL", permanent=True
        )
    return url


def _webhook_request(
    msg: AlertMessage, channel: Channel, url: str, env: Mapping[str, str]
) -> tuple[str, bytes, dict[str, str]]:
    """Where to POST (ntfy's topic is part of its URL), the JSON body and the headers."""
    target = url
    if channel.format == "slack":
        payload: dict[str, Any] = slack_payload(msg)
    elif channel.format == "ntfy":
        target, topic = ntfy_target(url)
        payload = ntfy_payload(msg, topic)
    else:
        payload = json_payload(msg)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": delivery_key(msg, channel.name),
        "X-Newswatch-Rule": "".join(c if c.isalnum() or c in "-_." else "_" for c in msg.rule),
    }
    headers.update({name: env[var] for name, var in channel.headers_env})
    return target, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers


def _webhook_http(settings: Settings) -> HttpSettings:
    """The HTTP settings of a webhook call: [alerts] webhook_timeout_s bounds every timeout."""
    a = settings.alerts
    return dataclasses.replace(
        settings.http,
        total_timeout_s=a.webhook_timeout_s,
        connect_timeout_s=min(settings.http.connect_timeout_s, a.webhook_timeout_s),
        read_timeout_s=min(settings.http.read_timeout_s, a.webhook_timeout_s),
        # [http] allow_private_networks is about the links feeds carry: a webhook reaches a
        # private address only by its own channel's allow_private.
        allow_private_networks=False,
    )


def _transient(exc: BaseException) -> bool:
    """Whether a webhook failure may pass if tried again."""
    return isinstance(exc, FetchError) and (
        exc.kind in _TRANSIENT_KINDS or exc.status in (408, 429)
    )


def _asked_wait(exc: BaseException) -> float | None:
    """How long the receiver asked to wait before the next try, if it did."""
    # Retry-After of a 429 or a 503: the next try waits that long (a later round when it is
    # longer than this round's tries may wait).
    if isinstance(exc, FetchError) and exc.status in (429, 503):
        return exc.retry_after_s
    return None


def _webhook_error(exc: FetchError, channel: Channel, url: str, target: str) -> DeliveryError:
    """The DeliveryError of a failed webhook call, its secrets left out."""
    if exc.kind == "blocked":
        host = urlsplit(target).hostname or "the webhook's host"
        return DeliveryError(
            f"channel {channel.name}: {host} is a private, loopback or link-local address; "
            f"set allow_private = true on channel {channel.name} in the alerts file to "
            f"call it",
            permanent=True,
        )
    return DeliveryError(
        f"channel {channel.name}: {_redact(str(exc), url)}",
        permanent=not _transient(exc),
        retry_after_s=_asked_wait(exc),
    )


async def _post(
    http: Any, url: str, body: bytes, headers: dict[str, str], allow_private: bool
) -> Any:
    async with Fetcher(http) as fetcher:
        return await fetcher.post(url, body, headers=headers, allow_private=allow_private)


def _email(msg: AlertMessage, channel: Channel, settings: Settings) -> str:
    recipients = list(channel.to or settings.digest.recipients)
    sender = settings.digest.sender
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "newswatch.local"
    key = delivery_key(msg, channel.name)
    email = build_email(
        msg,
        sender=sender,
        recipients=recipients or [sender],
        subject_prefix=settings.digest.subject_prefix,
        message_id=f"<{key}@{domain}>",
    )
    if not settings.smtp.host:
        # Like the digest: without an SMTP host the message is written to the outbox folder.
        outbox = Path(settings.digest.outbox)
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{key}.eml"
        path.write_bytes(bytes(email))
        return f"written to {path}"
    if not recipients:
        raise DeliveryError(
            f"channel {channel.name}: no recipients: set `to` in alerts.toml or "
            f"[digest] recipients",
            permanent=True,
        )
    try:
        send_mail(email, settings.smtp, recipients, what=f"alert {headline(msg)!r}")
    except MailError as exc:
        raise DeliveryError(f"channel {channel.name}: {exc}", permanent=exc.permanent) from None
    return f"mailed to {', '.join(recipients)}"


def sample_message(rule: str, now: datetime | None = None) -> AlertMessage:
    """A message that says it is a test of a rule (`newswatch alerts test RULE`)."""
    return AlertMessage(
        alert_id=None,
        rule=rule,
        story_id=None,
        article_id=None,
        title=f"Test alert for the rule {rule}",
        url="",
        source="newswatch",
        published_at=now or datetime.now(UTC),
        reasons=("this is a test message: no article matched",),
        created_at=now or datetime.now(UTC),
        test=True,
    )
