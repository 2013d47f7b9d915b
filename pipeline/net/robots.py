"""robots.txt for article pages: read once per origin through the fetcher and kept for
`[http] robots_cache_s`. An unreachable or 4xx robots.txt allows everything; a 5xx one says
"try the page later" (FetchError kind robots_unavailable)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from pipeline.errors import FetchError

#: Fetch a URL's body (raising FetchError), exempt from the private-address guard or not.
FetchBody = Callable[[str, bool], Awaitable[bytes]]


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: everything allowed
    expires: float


class RobotsCache:
    """Each origin's robots.txt rules, fetched on first use and again once `ttl_s` old."""

    def __init__(self, user_agent: str, ttl_s: float, fetch: FetchBody) -> None:
        self.agent = user_agent.split("/", 1)[0].split()[0] or "*"
        self.ttl_s = ttl_s
        self._fetch = fetch
        self._rules: dict[str, _Robots] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str, *, allow_private: bool = False) -> bool:
        """Whether robots.txt lets us fetch this page (one fetch per origin at a time)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._rules.get(origin)
            if cached is None or cached.expires < time.monotonic():
                cached = await self._load(origin, allow_private)
                self._rules[origin] = cached
        if cached.parser is None:
            return True
        return cached.parser.can_fetch(self.agent, url)

    async def _load(self, origin: str, allow_private: bool) -> _Robots:
        try:
            body = await self._fetch(f"{origin}/robots.txt", allow_private)
        except FetchError as exc:
            if exc.kind == "http_5xx":
                raise FetchError(
                    "robots_unavailable", f"robots.txt answered {exc.status}", status=exc.status
                ) from None
            # Unreachable or 4xx robots.txt: everything is allowed.
            return _Robots(None, time.monotonic() + self.ttl_s)
        parser = RobotFileParser()
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return _Robots(parser, time.monotonic() + self.ttl_s)
