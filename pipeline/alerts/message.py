"""What an alert says: webhook payloads (json, slack, ntfy) and the e-mail (plain text and HTML).

Everything here comes from feeds, so nothing of it may act: the HTML is rendered by Jinja2 with
autoescaping, links are kept only when they are http(s), Slack's control characters (& < >) are
escaped so that a headline cannot mention @channel or hide a link, and header values (the mail
subject) are made one line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.models import AlertMessage
from pipeline.net.urls import web_url

SUBJECT_CHARS = 160


def safe_url(url: str) -> str:
    """The URL if it is http(s), else '' (a feed could send javascript: or data: links)."""
    return web_url(url)


def one_line(text: str, limit: int = 300) -> str:
    """Text on one line, at most `limit` characters."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def headline(msg: AlertMessage) -> str:
    """'[test] rule: title' on one line."""
    return one_line(f"{'[test] ' if msg.test else ''}{msg.rule}: {msg.title}", SUBJECT_CHARS)


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def json_payload(msg: AlertMessage) -> dict[str, Any]:
    """The alert as a JSON object (format "json")."""
    return {
        "alert_id": msg.alert_id,
        "rule": msg.rule,
        "test": msg.test,
        "story_id": msg.story_id,
        "article": {
            "id": msg.article_id,
            "title": msg.title,
            "url": safe_url(msg.url),
            "source": msg.source,
            "published_at": _when(msg.published_at),
        },
        "matched": list(msg.reasons),
        "story_sources": list(msg.sources),
        "story_page": msg.story_page or None,
        "mark_page": msg.mark_page or None,
        "created_at": _when(msg.created_at),
    }


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>); & < > are its only escapes.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_body(msg: AlertMessage) -> str:
    """A short plain-text body: story, source, link, why (shared by slack, ntfy and logs)."""
    lines = [
        one_line(msg.title, 300),
        f"{one_line(msg.source, 80)}"
        + (f", {msg.published_at:%Y-%m-%d %H:%M} UTC" if msg.published_at else ""),
    ]
    if safe_url(msg.url):
        lines.append(safe_url(msg.url))
    if msg.story_page:
        lines.append(f"in newswatch: {msg.story_page}")
    if msg.mark_page:
        lines.append(f"wrong? mark it: {msg.mark_page}")
    lines += [f"- {one_line(r, 400)}" for r in msg.reasons]
    if len(msg.sources) > 1:
        lines.append(
            f"reported by {len(msg.sources)} sources: {one_line(', '.join(msg.sources), 200)}"
        )
    return "\n".join(lines)


def slack_payload(msg: AlertMessage) -> dict[str, Any]:
    """The alert as a Slack incoming-webhook message (format "slack": a text field)."""
    head = _slack_escape(f"{'[test] ' if msg.test else ''}newswatch alert: {msg.rule}")
    return {"text": f"*{head}*\n{_slack_escape(text_body(msg))}"}


def ntfy_payload(msg: AlertMessage, topic: str) -> dict[str, Any]:
    """The alert as an ntfy JSON publish (format "ntfy": POSTed to the server's root)."""
    payload: dict[str, Any] = {
        "topic": topic,
        "title": headline(msg),
        "message": text_body(msg),
        "tags": ["newspaper"],
    }
    if msg.story_page or safe_url(msg.url):
        payload["click"] = msg.story_page or safe_url(msg.url)
    return payload


def ntfy_target(url: str) -> tuple[str, str]:
    """An ntfy topic URL (https://ntfy.sh/mytopic) as the root to POST to and the topic."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    root, _, topic = path.rpartition("/")
    return f"{parts.scheme}://{parts.netloc}{root}/", topic


def build_email(
    msg: AlertMessage,
    *,
    sender: str,
    recipients: list[str],
    subject_prefix: str,
    message_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """A short multipart/alternative message: plain text and autoescaped HTML."""
    loader = PackageLoader("pipeline.alerts", "templates")
    html_env = Environment(
        loader=loader,
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True
        ),
    )
    text_env = Environment(loader=loader, autoescape=False, keep_trailing_newline=True)
    context = {
        "msg": msg,
        "url": safe_url(msg.url),
        "story_page": msg.story_page,
        "mark_page": msg.mark_page,
        "published": f"{msg.published_at:%a %d %b %Y %H:%M} UTC" if msg.published_at else "",
    }
    email = EmailMessage()
    email["Subject"] = one_line(f"{subject_prefix} {headline(msg)}".strip(), SUBJECT_CHARS + 40)
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = message_id
    email["X-Newswatch-Rule"] = re.sub(r"[^\w.-]", "_", msg.rule)
    email.set_content(text_env.get_template("alert.txt.j2").render(**context))
    email.add_alternative(html_env.get_template("alert.html.j2").render(**context), subtype="html")
    return email
