"""Mail: the digest as a MIME message, sent by SMTP with retries, or written to the outbox."""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pipeline.digest.render import CHART_CID, RenderedDigest
from pipeline.errors import DigestError
from pipeline.retry import backoff
from pipeline.settings import DigestSettings, Settings, SmtpSettings

log = logging.getLogger(__name__)


class SendError(DigestError):
    """The digest could not be handed to the SMTP server."""


def build_message(rendered: RenderedDigest, settings: Settings,
                  now: datetime | None = None) -> EmailMessage:
    """multipart/alternative: plain text, and HTML with the chart as a related inline image."""
    msg = EmailMessage()
    sender = settings.digest.sender
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(settings.digest.recipients) or sender
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "newswatch.local"
    msg["Message-ID"] = make_msgid(idstring=f"digest-{rendered.week}", domain=domain)
    msg["X-Newswatch-Week"] = rendered.week
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    if rendered.chart_png:
        html_part = msg.get_payload()[1]
        html_part.add_related(rendered.chart_png, maintype="image", subtype="png",
                              cid=f"<{CHART_CID}>", filename="daily-chart.png")
    return msg


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                            ConnectionError, TimeoutError, OSError))


def _context(smtp: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context


def _send_once(msg: EmailMessage, smtp: SmtpSettings, recipients: list[str]) -> None:
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                                context=_context(smtp))
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=_context(smtp))
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(msg, to_addrs=recipients)


_SEND_ERRORS = (smtplib.SMTPException, OSError, ssl.SSLError)


def send(msg: EmailMessage, smtp: SmtpSettings, digest: DigestSettings) -> None:
    """Send by SMTP, retrying transient failures; raise SendError when it cannot be sent."""
    if not digest.recipients:
        raise SendError("no recipients: set [digest] recipients")
    if smtp.username and not smtp.password:
        raise SendError("[smtp] username is set but NEWSWATCH_SMTP_PASSWORD is not")

    def permanent(exc: BaseException) -> bool:
        return (not _transient(exc) or isinstance(exc, ssl.SSLError)
                or isinstance(exc, smtplib.SMTPAuthenticationError))

    def warn(attempt: int, exc: BaseException, wait: float) -> None:
        log.warning("digest send attempt %d failed (%s); retrying in %.0f s", attempt, exc, wait)

    try:
        for attempt in backoff(first_s=smtp.retry_delay_s, max_s=max(smtp.retry_delay_s, 600.0),
                               attempts=smtp.retries, jitter=False,
                               retry_if=lambda exc: isinstance(exc, _SEND_ERRORS)
                               and not permanent(exc), on_retry=warn):
            with attempt:
                _send_once(msg, smtp, list(digest.recipients))
    except _SEND_ERRORS as exc:
        if permanent(exc):
            raise SendError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None
        raise SendError(f"SMTP {smtp.host}:{smtp.port}: gave up after {smtp.retries} "
                        f"attempts: {exc}") from None
    log.info("digest sent to %s via %s:%d", ", ".join(digest.recipients), smtp.host, smtp.port)


def write_outbox(msg: EmailMessage, rendered: RenderedDigest, outbox: Path,
                 week: str) -> list[Path]:
    """Write the message as .eml and a standalone .html into the outbox folder."""
    outbox.mkdir(parents=True, exist_ok=True)
    eml = outbox / f"newswatch-digest-{week}.eml"
    html = outbox / f"newswatch-digest-{week}.html"
    eml.write_bytes(bytes(msg))
    html.write_text(rendered.standalone_html, encoding="utf-8")
    return [eml, html]
