"""What an HTTP exchange comes to: the result record, the headers a GET sends, a final response
as a result or a FetchError, and the error kind of a failure (pure; pipeline/net/http.py does
the requests)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from pipeline.errors import FetchError
from pipeline.net.guard import BlockedAddressError

#: Statuses that redirect (followed by hand for a GET, refused for a webhook's POST).
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class FetchResult:
    """A response: the body is decompressed (empty for 304)."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str | None
    permanent_redirect: str | None = None
    elapsed_s: float = 0.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(exc: BaseException) -> tuple[str, str]:
    """Map an httpx/OS exception to an error kind and a short message."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return "timeout", text or "timed out"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, BlockedAddressError):
            return "blocked", str(cause)
        if isinstance(cause, socket.gaierror):
            return "dns", f"cannot resolve host: {cause}"
        if isinstance(cause, ssl.SSLError):
            return "tls", f"TLS error: {cause}"
        cause = cause.__cause__ or cause.__context__
    low = text.lower()
    if (
        "name or service not known" in low
        or "temporary failure in name resolution" in low
        or "nodename nor servname" in low
        or "no address associated" in low
    ):
        return "dns", text
    if "ssl" in low or "certificate" in low or "tls" in low:
        return "tls", text
    if isinstance(exc, httpx.ConnectError):
        return "connect", text
    return "protocol", text


def request_headers(purpose: str, etag: str | None, last_modified: str | None) -> dict[str, str]:
    """A GET's conditional headers and what it accepts, by purpose (feed, page, robots)."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if purpose == "feed":
        headers["Accept"] = (
            "application/rss+xml, application/atom+xml, "
            "application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, "
            "*/*;q=0.5"
        )
    elif purpose == "page":
        headers["Accept"] = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
    return headers


def final_result(
    url: str,
    final_url: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
    permanent: str | None,
    elapsed_s: float,
) -> FetchResult:
    """The result of a final (not redirecting) response; FetchError unless 2xx or 304."""
    if status == 304 or 200 <= status < 300:
        ctype = headers.get("content-type")
        return FetchResult(
            url,
            final_url,
            status,
            headers,
            body,
            ctype.split(";")[0].strip().lower() if ctype else None,
            permanent_redirect=permanent,
            elapsed_s=elapsed_s,
        )
    if status == 410:
        raise FetchError("gone", f"HTTP 410 Gone: {final_url}", status=status)
    kind = "http_5xx" if status >= 500 else "http_4xx"
    raise FetchError(
        kind,
        f"HTTP {status} from {final_url}",
        status=status,
        retry_after_s=parse_retry_after(headers.get("retry-after")),
    )


def webhook_result(
    url: str, status: int, headers: dict[str, str], body: bytes, elapsed_s: float
) -> FetchResult:
    """The result of a webhook's POST; FetchError unless 2xx (a redirect is not followed: the
    body would have to be sent again elsewhere)."""
    if 200 <= status < 300:
        ctype = headers.get("content-type")
        return FetchResult(
            url,
            url,
            status,
            headers,
            body,
            ctype.split(";")[0].strip().lower() if ctype else None,
            elapsed_s=elapsed_s,
        )
    if status in REDIRECTS:
        raise FetchError(
            "redirect", f"HTTP {status}: the webhook redirects; not followed", status=status
        )
    kind = "http_5xx" if status >= 500 else "http_4xx"
    raise FetchError(
        kind,
        f"HTTP {status}",
        status=status,
        retry_after_s=parse_retry_after(headers.get("retry-after")),
    )
