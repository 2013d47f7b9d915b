"""The only module that does HTTP: feeds, article pages, robots.txt and alert webhooks, politely
and within caps.

Every request goes through `Fetcher.fetch`: a User-Agent with a contact, connect/read/total
timeouts, a size cap enforced while streaming (on the decompressed bytes), at most
`max_redirects` redirects followed by hand so that every hop is checked (scheme, private
addresses), at most `per_host_concurrency` requests in flight per host with a minimum gap
between them, and `concurrency` in flight overall.

The private-address guard sits in the socket layer: every TCP connection of the guarded client
resolves the host once, refuses it if any address is private, loopback, link-local, reserved or
unspecified (127.0.0.1 in all its spellings, [::1], 0.0.0.0, 169.254.169.254...), and connects
to the address it checked, so a name that resolves differently a moment later (DNS rebinding)
cannot slip through. Only a feed's own configured URL, a feed marked `allow_private = true` in
feeds.toml, or `[http] allow_private_networks` use the unguarded client. Failures raise
FetchError with a `kind`:

    dns, connect, timeout, tls, protocol   the network
    http_4xx, http_5xx, gone (410)         the server said no
    too_large, redirect, blocked           our own limits (size, redirect loop, scheme/address)
    invalid_url                            a URL httpx cannot parse (e.g. an octal IP address)
    robots_unavailable                     robots.txt answered 5xx: try the page later
"""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from pipeline.config.settings import HttpSettings
from pipeline.errors import FetchError

_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)


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


def is_local_path(url: str) -> bool:
    """Whether a feed 'URL' is a local file (a path or file://)."""
    scheme = urlsplit(url).scheme.lower()
    return (
        scheme == "file"
        or (scheme == "" and bool(url))
        or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))
    )


def _ip_is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


class BlockedAddressError(httpcore.ConnectError):
    """A connection to a private, loopback or link-local address was refused by the guard."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the private-address check at connect time.

    httpx offers no hook between name resolution and connect; wrapping the backend is the one
    place where the checked address is also the one connected to.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve host {host}: {exc}") from exc
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        if not addresses or any(_ip_is_private(a) for a in addresses):
            raise BlockedAddressError(
                f"{host} is a private, loopback or link-local address; set allow_private = true "
                f"on the feed in feeds.toml or [http] allow_private_networks to fetch it"
            )
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _guarded_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every new connection passes the private-address guard."""
    # No environment proxies: through a proxy the guard would check the proxy, not the target.
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = transport._pool  # httpx exposes no network-backend option; see _GuardedBackend
    pool._network_backend = _GuardedBackend(pool._network_backend)
    return transport


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


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


def _classify(exc: BaseException) -> tuple[str, str]:
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


@dataclass
class _HostGate:
    """Per-host politeness: a semaphore and the earliest time of the next request."""

    sem: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: everything allowed
    expires: float


class Fetcher:
    """An async HTTP client with the project's limits; use as `async with Fetcher(s) as f:`."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        common = dict(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=settings.total_timeout_s,
            ),
            follow_redirects=False,
            limits=limits,
        )
        # Two clients, so that a connection opened for an exempt request is never reused by a
        # guarded one (connections are pooled by host).
        self._open = httpx.AsyncClient(**common)
        self._guarded = (
            self._open
            if settings.allow_private_networks
            else httpx.AsyncClient(**common, transport=_guarded_transport(limits))
        )
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, _HostGate] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.requests = 0

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc) -> None:
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
            return await asyncio.get_running_loop().run_in_executor(None, self._read_file, url)
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
        """Whether robots.txt lets us fetch an article page (cached per host)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._robots.get(origin)
            if cached is None or cached.expires < time.monotonic():
                cached = await self._load_robots(origin, allow_private)
                self._robots[origin] = cached
        if cached.parser is None:
            return True
        agent = self.settings.user_agent.split("/", 1)[0].split()[0] or "*"
        return cached.parser.can_fetch(agent, url)

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        allow_private: bool = False,
    ) -> FetchResult:
        """POST a body (an alert webhook) within the same limits and private-address guard as
        every GET; redirects are not followed (a webhook that moved is an error to fix, and a
        redirected POST would need the body sent again elsewhere). Raise FetchError on failure,
        on a redirect and on any status but 2xx."""
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError("blocked", "only http and https webhooks are called")
        client = (
            self._open if allow_private or self.settings.allow_private_networks else self._guarded
        )
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
        ctype = resp_headers.get("content-type")
        result = FetchResult(
            url,
            url,
            status,
            resp_headers,
            data,
            ctype.split(";")[0].strip().lower() if ctype else None,
            elapsed_s=time.perf_counter() - started,
        )
        if 200 <= status < 300:
            return result
        if status in _REDIRECTS:
            raise FetchError(
                "redirect", f"HTTP {status}: the webhook redirects; not followed", status=status
            )
        kind = "http_5xx" if status >= 500 else "http_4xx"
        raise FetchError(
            kind,
            f"HTTP {status}",
            status=status,
            retry_after_s=parse_retry_after(resp_headers.get("retry-after")),
        )

    # -- internals ------------------------------------------------------------------------

    async def _load_robots(self, origin: str, allow_private: bool) -> _Robots:
        ttl = self.settings.robots_cache_s
        try:
            result = await self.fetch(
                f"{origin}/robots.txt", purpose="robots", allow_private=allow_private
            )
        except FetchError as exc:
            if exc.kind == "http_5xx":
                raise FetchError(
                    "robots_unavailable", f"robots.txt answered {exc.status}", status=exc.status
                ) from None
            # Unreachable or 4xx robots.txt: everything is allowed.
            return _Robots(None, time.monotonic() + ttl)
        parser = RobotFileParser()
        parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        return _Robots(parser, time.monotonic() + ttl)

    def _read_file(self, url: str) -> FetchResult:
        path = Path(urlsplit(url).path if url.lower().startswith("file:") else url).expanduser()
        started = time.perf_counter()
        try:
            size = path.stat().st_size
            if size > self.settings.max_body_bytes:
                raise FetchError(
                    "too_large",
                    f"{path} is {size} bytes; the cap is {self.settings.max_body_bytes}",
                )
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
        started = time.perf_counter()
        current = url
        permanent: str | None = None
        all_permanent = True
        visited = {url}
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
        for hop in range(self.settings.max_redirects + 1):
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise FetchError("blocked", f"redirect to a non-http URL: {current}")
            own_feed = purpose == "feed" and _host(current) == _host(url)
            client = self._open if allow_private or own_feed else self._guarded
            status, resp_headers, body = await self._request(client, current, headers)
            if status in _REDIRECTS and "location" in resp_headers:
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
            ctype = resp_headers.get("content-type")
            result = FetchResult(
                url,
                current,
                status,
                resp_headers,
                body,
                ctype.split(";")[0].strip().lower() if ctype else None,
                permanent_redirect=permanent,
                elapsed_s=time.perf_counter() - started,
            )
            if status == 304 or 200 <= status < 300:
                return result
            retry = parse_retry_after(resp_headers.get("retry-after"))
            if status == 410:
                raise FetchError("gone", f"HTTP 410 Gone: {current}", status=status)
            kind = "http_5xx" if status >= 500 else "http_4xx"
            raise FetchError(
                kind, f"HTTP {status} from {current}", status=status, retry_after_s=retry
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
                        if resp.status_code not in _REDIRECTS and resp.status_code != 304:
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
                    kind, message = _classify(exc)
                    raise FetchError(kind, f"{message} ({url})") from None
