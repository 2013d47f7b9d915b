"""Feed bytes to entries (pure): feedparser over the fetched bytes and the response headers.

Ill-formed feeds are salvaged whenever feedparser recovers entries from them; a body with no
entries and no recognisable feed format (an HTML page, an empty 200, garbage) is a parse error.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.errors import FeedParseError
from pipeline.htmltext import html_to_text, strip_tags
from pipeline.models import FeedEntry, ParsedFeed
from pipeline.net.urls import canonical_url

#: A date this far ahead of the fetch is a publisher's clock error, not a scheduled post.
FUTURE_TOLERANCE = timedelta(minutes=10)


def _absolute(base: str, link: Any) -> str | None:
    if not link or not isinstance(link, str):
        return None
    absolute = urljoin(base, link.strip()) if base and "://" in base else link.strip()
    if urlsplit(absolute).scheme.lower() not in ("http", "https"):
        return None  # file:, javascript:, data: ... are never fetched
    return absolute


def _date(entry: Any, fetched_at: datetime) -> tuple[datetime, bool]:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(field)
        if parsed:
            try:
                when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
            if when > fetched_at + FUTURE_TOLERANCE:
                return fetched_at, False
            return when, True
    return fetched_at, False


def _content(entry: Any) -> str:
    best = ""
    for item in entry.get("content") or []:
        value = item.get("value") or ""
        text = html_to_text(value) if "html" in (item.get("type") or "html") else value.strip()
        if len(text) > len(best):
            best = text
    return best


def _entry_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    if guid:
        return f"guid:{guid}"
    if link:
        try:
            return f"link:{canonical_url(link)}"
        except Exception:  # an odd link is still a stable key as it is
            return f"link:{link}"
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()[:32]
    return f"hash:{digest}"


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime,
    max_entries: int | None = None,
) -> ParsedFeed:
    """Parse feed bytes; raise FeedParseError when nothing can be salvaged."""
    parsed = _feedparser(body, url, headers)
    raw_entries = parsed.get("entries") or []
    bozo = bool(parsed.get("bozo"))
    reason = str(parsed.get("bozo_exception")) if bozo else None
    version = parsed.get("version") or ""
    if not raw_entries and not version:
        detail = f" ({reason})" if reason else ""
        raise FeedParseError(f"not a feed: no RSS/Atom/RDF entries found{detail}")

    feed_info = parsed.get("feed") or {}
    base = feed_info.get("link") if not url or "://" not in url else url
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in raw_entries:
        entry = _entry(raw, base or "", fetched_at)
        if entry is None or entry.key in seen:
            continue
        seen.add(entry.key)
        entries.append(entry)
    if not entries and bozo:
        raise FeedParseError(f"ill-formed feed with nothing to salvage: {reason}")
    entries.sort(key=lambda e: e.published_at, reverse=True)
    if max_entries is not None:
        entries = entries[:max_entries]
    return ParsedFeed(
        title=strip_tags(feed_info.get("title") or "") or None,
        link=feed_info.get("link"),
        entries=tuple(entries),
        bozo=bozo,
        bozo_reason=reason,
    )


def _feedparser(body: bytes, url: str, headers: Mapping[str, str] | None) -> Any:
    """feedparser's reading of the body (the feed's URL as its base); FeedParseError if none."""
    if not body or not body.strip():
        raise FeedParseError("empty body: no feed")
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if url and "://" in url:
        response_headers.setdefault("content-location", url)
    try:
        return feedparser.parse(
            body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=True
        )
    except Exception as exc:  # feedparser is lenient, but a crash must become a parse error
        raise FeedParseError(f"feed parser failed: {type(exc).__name__}: {exc}") from None


def _entry(raw: Any, base: str, fetched_at: datetime) -> FeedEntry | None:
    """One of feedparser's entries as plain data; None when it has no title, text or link."""
    title = strip_tags(raw.get("title") or "")
    summary = html_to_text(raw.get("summary") or raw.get("description") or "")
    content = _content(raw)
    link = _absolute(base, raw.get("link"))
    if link is None:
        for alt in raw.get("links") or []:
            if alt.get("rel", "alternate") == "alternate":
                link = _absolute(base, alt.get("href"))
                if link:
                    break
    guid = (raw.get("id") or raw.get("guid") or "").strip() or None
    if not (title or summary or content or link):
        return None
    published, from_feed = _date(raw, fetched_at)
    return FeedEntry(
        key=_entry_key(guid, link, title, summary),
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=content,
        author=strip_tags(raw.get("author") or "") or None,
        published_at=published,
        tags=tuple(t.get("term") for t in raw.get("tags") or [] if t.get("term")),
        date_from_feed=from_feed,
    )
