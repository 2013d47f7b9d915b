"""The private-address guard of pipeline/net/http.py, in the socket layer.

Every TCP connection of a guarded client resolves the host once, refuses it if any address is
private, loopback, link-local, reserved or unspecified (127.0.0.1 in all its spellings, [::1],
0.0.0.0, 169.254.169.254...), and connects to the address it checked, so a name that resolves
differently a moment later (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpcore
import httpx


def is_private_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is one the guard refuses (an IPv4-mapped IPv6 address as its IPv4)."""
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


class GuardedBackend(httpcore.AsyncNetworkBackend):
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
        """Resolve, check every address, connect to a checked one."""
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
        if not addresses or any(is_private_address(a) for a in addresses):
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
        """Never: a unix socket is a local resource."""
        raise BlockedAddressError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        """The inner backend's sleep."""
        await self._inner.sleep(seconds)


def guarded_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every new connection passes the private-address guard."""
    # No environment proxies: through a proxy the guard would check the proxy, not the target.
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = transport._pool  # httpx exposes no network-backend option; see GuardedBackend
    pool._network_backend = GuardedBackend(pool._network_backend)
    return transport
