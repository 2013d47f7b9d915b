"""The only module that does HTTP: feeds, article pages, robots.txt and alert webhooks, politely
and within caps.

Every request goes through `Fetcher.fetch`: a User-Agent with a contact, connect/read/total
timeouts, a size cap enforced while streaming (on the decompressed bytes), at most
`max_redirects` redirects followed by hand so that every hop is checked (scheme, private
addresses), at most `per_host_concurrency` requests in flight per host with a minimum gap
between them, and `concurrency` in flight overall.

The private-address guard sits in the socket layer (pipeline/net/guard.py): every connection of
the guarded client refuses private, loopback, link-local, reserved and unspecified addresses, at
the address it connects to. Only a feed's own configured URL, a feed marked `allow_private =
true` in feeds.toml, or `[http] allow_private_networks` use the unguarded client. robots.txt is
read and cached per origin by pipeline/net/robots.py. Failures raise FetchError with a `kind`:

    dns, connect, timeout, tls, protocol   the network
    http_4xx, http_5xx, gone (410)         the server said no
    too_large, redirect, blocked           our own limits (size, redirect loop, scheme/address)
    invalid_url                            a URL httpx cannot parse (e.g. an octal IP address)
    robots_unavailable                     robots.txt answered 5xx: try the page later
"""

from __future__ import annotations

import asyncio
import mimetypes
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline.config.settings import HttpSettings
from pipeline.errors import FetchError
from pipeline.net.guard import guarded_transport
from pipeline.net.responses import (
    REDIRECTS,
    FetchResult,
    classify,
    final_result,
    request_headers,
    webhook_result,
)
from pipeline.net.robots import RobotsCache

_PERMANENT = (301, 308)


def is_local_path(url: str) -> bool:
    """Whether a feed 'URL' is a local file (a path or file://)."""
    scheme = urlsplit(url).scheme.lower()
    return (
        scheme == "file"
        or (scheme == "" and bool(url))
        or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def read_local_file(url: str, max_bytes: int) -> FetchResult:
    """A configured feed that is a local file (a path or file://), within the size cap."""
    path = Path(urlsplit(url).path if url.lower().startswith("file:") else url).expanduser()
    started = time.perf_counter()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError("too_large", f"{path} is {size} bytes; the cap is {max_bytes}")
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError("http_4xx", f"no such file: {path}", status=404) from None
    except OSError as exc:
        raise FetchError("connect", f"cannot read {path}: {exc}") from None
    ctype = mimetypes.guess_type(path.name)[0]
    return FetchResult(
        url,
        url,
        200,
        {"content-type": ctype or ""},
        body,
        ctype,
        elapsed_s=time.perf_counter() - started,
    )


@dataclass
class _HostGate:
    """Per-host politeness: a semaphore and the earliest time of the next request."""

    sem: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class Fetcher:
    """An async HTTP client with the project's limits; use as `async with Fetcher(s) as f:`."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.total_timeout_s,
        )

        def client(transport: httpx.AsyncHTTPTransport | None = None) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
                limits=limits,
                transport=transport,
            )

        # Two clients, so that a connection opened for an exempt request is never reused by a
        # guarded one (connections are pooled by host).
        self._open = client()
        self._guarded = (
            self._open if settings.allow_private_networks else client(guarded_transport(limits))
        )
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, _HostGate] = {}
        self._robots = RobotsCache(settings.user_agent, settings.robots_cache_s, self._body)
        self.requests = 0

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        await self._open.aclose()
        if self._guarded is not self._open:
            await self._guarded.aclose()

    # -- the public calls -------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        purpose: str,
        etag: str | None = None,
        last_modified: str | None = None,
        user_configured: bool = False,
        allow_private: bool = False,
    ) -> FetchResult:
        """GET a URL within every limit; raise FetchError(kind, ...) on failure.

        `allow_private` exempts this request from the private-address guard; a feed's own URL
        (purpose 'feed', first hop and redirects on the same host) is always exempt: the user
        configured it."""
        if is_local_path(url):
            if purpose != "feed" or not user_configured:
                raise FetchError(
                    "blocked", f"local files are read only for configured feeds: {url}"
                )
            return await asyncio.get_running_loop().run_in_executor(
                None, read_local_file, url, self.settings.max_body_bytes
            )
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError("blocked", f"only http and https are fetched: {url}")
        try:
            return await asyncio.wait_for(
                self._fetch(
                    url,
                    purpose=purpose,
                    etag=etag,
                    last_modified=last_modified,
                    allow_private=allow_private or self.settings.allow_private_networks,
                ),
                timeout=self.settings.total_timeout_s,
            )
        except TimeoutError:
            raise FetchError(
                "timeout", f"no complete response within {self.settings.total_timeout_s:g} s"
            ) from None

    async def robots_allowed(self, url: str, *, allow_private: bool = False) -> bool:
        """Whether robots.txt lets us fetch an article page (cached per origin)."""
        return await self._robots.allowed(url, allow_private=allow_private)

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        allow_private: bool = False,
    ) -> FetchResult:
        """POST a body (an alert webhook) within the same limits and private-address guard as
        every GET, exempt only by `allow_private` (a webhook's channel says so; [http]
        allow_private_networks, about feeds' links, opens the guard only when this fetcher was
        made with it); redirects are not followed (a webhook that moved is an error to fix, and
        a redirected POST would need the body sent again elsewhere). Raise FetchError on
        failure, on a redirect and on any status but 2xx."""
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError("blocked", "only http and https webhooks are called")
        client = self._open if allow_private else self._guarded
        started = time.perf_counter()
        try:
            status, resp_headers, data = await asyncio.wait_for(
                self._request(client, url, dict(headers or {}), method="POST", content=body),
                timeout=self.settings.total_timeout_s,
            )
        except TimeoutError:
            raise FetchError(
                "timeout", f"no complete response within {self.settings.total_timeout_s:g} s"
            ) from None
        return webhook_result(url, status, resp_headers, data, time.perf_counter() - started)

    # -- internals ------------------------------------------------------------------------

    async def _body(self, url: str, allow_private: bool) -> bytes:
        """A robots.txt file's body (FetchError as `fetch` raises it)."""
        return (await self.fetch(url, purpose="robots", allow_private=allow_private)).body

    async def _gate(self, host: str) -> _HostGate:
        gate = self._hosts.get(host)
        if gate is None:
            gate = self._hosts[host] = _HostGate(
                asyncio.Semaphore(self.settings.per_host_concurrency)
            )
        return gate

    async def _fetch(
        self,
        url: str,
        *,
        purpose: str,
        etag: str | None,
        last_modified: str | None,
        allow_private: bool,
    ) -> FetchResult:
        """GET with redirects followed by hand, each hop checked (scheme, private address)."""
        started = time.perf_counter()
        current = url
        permanent: str | None = None
        all_permanent = True
        visited = {url}
        headers = request_headers(purpose, etag, last_modified)
        for hop in range(self.settings.max_redirects + 1):
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise FetchError("blocked", f"redirect to a non-http URL: {current}")
            own_feed = purpose == "feed" and _host(current) == _host(url)
            client = self._open if allow_private or own_feed else self._guarded
            status, resp_headers, body = await self._request(client, current, headers)
            if status in REDIRECTS and "location" in resp_headers:
                target = urljoin(current, resp_headers["location"])
                all_permanent = all_permanent and status in _PERMANENT
                if all_permanent:
                    permanent = target
                if target in visited:
                    raise FetchError("redirect", f"redirect loop at {target}", status=status)
                if hop == self.settings.max_redirects:
                    break
                visited.add(target)
                current = target
                continue
            return final_result(
                url, current, status, resp_headers, body, permanent, time.perf_counter() - started
            )
        raise FetchError(
            "redirect", f"more than {self.settings.max_redirects} redirects from {url}"
        )

    async def _request(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        method: str = "GET",
        content: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        host = (urlsplit(url).hostname or "").lower()
        gate = await self._gate(host)
        cap = self.settings.max_body_bytes
        async with gate.sem:
            async with gate.lock:
                wait = gate.next_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                gate.next_at = time.monotonic() + self.settings.per_host_delay_s
            async with self._global:
                self.requests += 1
                try:
                    async with client.stream(method, url, headers=headers, content=content) as resp:
                        resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                        declared = resp_headers.get("content-length", "")
                        if (
                            resp.status_code == 200
                            and declared.isdigit()
                            and "content-encoding" not in resp_headers
                            and int(declared) > cap
                        ):
                            raise FetchError(
                                "too_large", f"{url} declares {declared} bytes; the cap is {cap}"
                            )
                        chunks = []
                        size = 0
                        if resp.status_code not in REDIRECTS and resp.status_code != 304:
                            # aiter_bytes yields decompressed bytes: a gzip bomb hits the cap.
                            async for chunk in resp.aiter_bytes():
                                size += len(chunk)
                                if size > cap:
                                    raise FetchError(
                                        "too_large", f"{url} is larger than the cap of {cap} bytes"
                                    )
                                chunks.append(chunk)
                        return resp.status_code, resp_headers, b"".join(chunks)
                except FetchError:
                    raise
                except httpx.InvalidURL as exc:
                    raise FetchError("invalid_url", f"{exc} ({url})") from None
                except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
                    kind, message = classify(exc)
                    raise FetchError(kind, f"{message} ({url})") from None
