"""Mail: the digest as a MIME message, sent by SMTP with retries (pipeline/net/smtp.py), or
written to the outbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pipeline.config.settings import DigestSettings, Settings, SmtpSettings
from pipeline.digest.render import CHART_CID, RenderedDigest
from pipeline.errors import DigestError, MailError
from pipeline.net.smtp import send_mail

log = logging.getLogger(__name__)


class SendError(DigestError):
    """The digest could not be handed to the SMTP server."""


def build_message(
    rendered: RenderedDigest, settings: Settings, now: datetime | None = None
) -> EmailMessage:
    """multipart/alternative: plain text, and HTML with the chart as a related inline image."""
    msg = EmailMessage()
    sender = settings.digest.sender
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(settings.digest.recipients) or sender
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "newswatch.local"
    msg["Message-ID"] = make_msgid(idstring=f"digest-{rendered.week}", domain=domain)
    msg["X-Newswatch-Week"] = rendered.week
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    if rendered.chart_png:
        html_part = list(msg.iter_parts())[1]
        html_part.add_related(
            rendered.chart_png,
            maintype="image",
            subtype="png",
            cid=f"<{CHART_CID}>",
            filename="daily-chart.png",
        )
    return msg


def send(msg: EmailMessage, smtp: SmtpSettings, digest: DigestSettings) -> None:
    """Send by SMTP, retrying transient failures; raise SendError when it cannot be sent."""
    if not digest.recipients:
        raise SendError("no recipients: set [digest] recipients")
    try:
        send_mail(msg, smtp, list(digest.recipients), what="digest")
    except MailError as exc:
        raise SendError(str(exc)) from None


def write_outbox(
    msg: EmailMessage, rendered: RenderedDigest, outbox: Path, week: str
) -> list[Path]:
    """Write the message as .eml and a standalone .html into the outbox folder."""
    outbox.mkdir(parents=True, exist_ok=True)
    eml = outbox / f"newswatch-digest-{week}.eml"
    html = outbox / f"newswatch-digest-{week}.html"
    eml.write_bytes(bytes(msg))
    html.write_text(rendered.standalone_html, encoding="utf-8")
    return [eml, html]
