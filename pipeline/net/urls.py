"""Canonical URLs (pure): one spelling per article, whatever tracking the link carried."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from courlan import extract_domain
from courlan.clean import normalize_url


def canonical_url(url: str) -> str:
    """Tracking parameters, fragment, default port and host case removed; query keys sorted."""
    url = url.strip()
    try:
        normal = normalize_url(url)
    except Exception:  # courlan refuses some odd URLs; keep them, minus what we can strip
        normal = url
    parts = urlsplit(normal)
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = host + (f":{port}" if port else "")
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


def registrable_domain(url: str) -> str:
    """The registrable domain of a URL (example.co.uk for news.example.co.uk)."""
    host = (urlsplit(url).hostname or "").lower()
    try:
        domain = extract_domain(url)
    except Exception:  # courlan has no answer for IPs and odd hosts
        domain = None
    return (domain or host.removeprefix("www.")).lower()


def same_site(a: str, b: str) -> bool:
    """Whether two URLs belong to the same site (registrable domain; www. ignored)."""
    da, db = registrable_domain(a), registrable_domain(b)
    return bool(da) and da == db


def _is_front_page(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def pick_canonical(entry_url: str, page_canonical: str | None) -> str:
    """The page's rel=canonical when it stays on the entry's site, else the entry's URL.

    A canonical that names the site's front page for an article page is a template mistake
    seen on real sites; trusted, it would make every later article an alias of the first."""
    if page_canonical:
        target = urljoin(entry_url, page_canonical.strip())
        if (
            urlsplit(target).scheme in ("http", "https")
            and same_site(entry_url, target)
            and (not _is_front_page(target) or _is_front_page(entry_url))
        ):
            return canonical_url(target)
    return canonical_url(entry_url)


def web_url(url: object) -> str:
    """The URL if it is an http(s) link with a host, else '' (a feed or an archive may send
    `javascript:` or `data:` URLs, and nothing newswatch renders links anything but the web)."""
    if not isinstance(url, str):
        return ""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def room_url(base_url: str, path: str) -> str:
    """A reading-room page as a link for a digest or an alert ('' when `[web] base_url` is
    unset): `room_url("https://nw.example", "/stories/12")`."""
    base = web_url(base_url)
    return f"{base.rstrip('/')}{path}" if base else ""
