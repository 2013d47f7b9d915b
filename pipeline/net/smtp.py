"""Sending mail by SMTP with retries: the digest and e-mail alerts both go out through here."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from pipeline.config.settings import SmtpSettings
from pipeline.errors import MailError
from pipeline.retry import backoff

log = logging.getLogger(__name__)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(
        exc,
        (
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPConnectError,
            ConnectionError,
            TimeoutError,
            OSError,
        ),
    )


def _context(smtp: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context


def _send_once(msg: EmailMessage, smtp: SmtpSettings, recipients: list[str]) -> None:
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout_s, context=_context(smtp)
        )
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


def send_mail(
    msg: EmailMessage, smtp: SmtpSettings, recipients: Sequence[str], *, what: str = "mail"
) -> None:
    """Send by SMTP, retrying transient failures ([smtp] retries, retry_delay_s); raise
    MailError (with `permanent` set for refusals a retry cannot fix) when it cannot be sent."""
    if not recipients:
        raise MailError("no recipients", permanent=True)
    if smtp.username and not smtp.password:
        raise MailError("[smtp] username is set but NEWSWATCH_SMTP_PASSWORD is not", permanent=True)

    def permanent(exc: BaseException) -> bool:
        return not _transient(exc) or isinstance(
            exc, (ssl.SSLError, smtplib.SMTPAuthenticationError)
        )

    def warn(attempt: int, exc: BaseException, wait: float) -> None:
        log.warning("%s send attempt %d failed (%s); retrying in %.0f s", what, attempt, exc, wait)

    try:
        for attempt in backoff(
            first_s=smtp.retry_delay_s,
            max_s=max(smtp.retry_delay_s, 600.0),
            attempts=smtp.retries,
            jitter=False,
            retry_if=lambda exc: isinstance(exc, _SEND_ERRORS) and not permanent(exc),
            on_retry=warn,
        ):
            with attempt:
                _send_once(msg, smtp, list(recipients))
    except _SEND_ERRORS as exc:
        if permanent(exc):
            raise MailError(f"SMTP {smtp.host}:{smtp.port}: {exc}", permanent=True) from None
        raise MailError(
            f"SMTP {smtp.host}:{smtp.port}: gave up after {smtp.retries} attempts: {exc}"
        ) from None
    log.info("%s sent to %s via %s:%d", what, ", ".join(recipients), smtp.host, smtp.port)
