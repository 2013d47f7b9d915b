"""Fetching and extracting one feed entry's article page (robots.txt, caps, HTML check)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.errors import FetchError
from pipeline.extract.article import PageExtract, looks_like_html
from pipeline.extract.pool import Extractor, timed_extract
from pipeline.net.http import Fetcher


@dataclass(frozen=True)
class PageResult:
    """What became of an entry's page: an extract, or why there is none."""

    url: str | None
    page: PageExtract | None
    problem: str | None  # why the page cannot be used (the feed's text is kept)
    deferred: bool = False  # robots.txt answered 5xx: try the page again next cycle
    fetch_s: float = 0.0
    extract_s: float = 0.0


async def fetch_page(
    fetcher: Fetcher,
    link: str | None,
    *,
    allow_private: bool,
    respect_robots: bool,
    extractor: Extractor | None = None,
    on_fetched: Callable[[], None] | None = None,
) -> PageResult:
    """Fetch an entry's link and extract its article (in `extractor`'s workers, else a thread);
    `on_fetched()` runs once the page is in hand, before extraction. Never raises for a page
    problem."""
    if not link:
        return PageResult(None, None, "no_link")
    if urlsplit(link).scheme.lower() not in ("http", "https"):
        return PageResult(link, None, f"blocked: {urlsplit(link).scheme or 'no'} scheme")
    started = time.perf_counter()
    if respect_robots:
        try:
            if not await fetcher.robots_allowed(link, allow_private=allow_private):
                return PageResult(link, None, "robots_disallowed")
        except FetchError as exc:
            if exc.kind == "robots_unavailable":
                return PageResult(link, None, f"robots_unavailable: {exc}", deferred=True)
            # Robots.txt that cannot be reached at all means allowed; the page fetch decides.
    try:
        result = await fetcher.fetch(link, purpose="page", allow_private=allow_private)
    except FetchError as exc:
        return PageResult(
            link, None, f"fetch_failed: {exc.kind}: {exc}", fetch_s=time.perf_counter() - started
        )
    fetch_s = time.perf_counter() - started
    if on_fetched is not None:
        on_fetched()
    if not looks_like_html(result.content_type, result.body):
        return PageResult(
            result.final_url, None, f"not_html: {result.content_type or 'unknown'}", fetch_s=fetch_s
        )
    try:
        # trafilatura is CPU-bound: a worker keeps the other fetches (and the embedder) moving.
        content_type = result.headers.get("content-type")
        if extractor is not None:
            page, extract_s = await extractor.extract(result.body, result.final_url, content_type)
        else:
            page, extract_s = await asyncio.get_running_loop().run_in_executor(
                None, timed_extract, result.body, result.final_url, content_type
            )
    except Exception as exc:  # a parser bug on one page must not stop the cycle
        return PageResult(
            result.final_url, None, f"extract_failed: {type(exc).__name__}: {exc}", fetch_s=fetch_s
        )
    if page is None or not page.text.strip():
        return PageResult(result.final_url, None, "no_text", fetch_s=fetch_s, extract_s=extract_s)
    return PageResult(result.final_url, page, None, fetch_s=fetch_s, extract_s=extract_s)
