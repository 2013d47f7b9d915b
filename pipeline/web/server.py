"""Serving the reading room: in the foreground (`newswatch serve`) or beside the daemon
(`newswatch run`), on 127.0.0.1 unless told otherwise, and on another address only with a token."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from pipeline.config.settings import Settings
from pipeline.errors import ConfigError
from pipeline.store.db import Warehouse
from pipeline.web.app import create_app
from pipeline.web.security import Guard, is_loopback
from pipeline.web.site import Clock, Site, utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Address:
    """Where the reading room listens and the URL to open."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The URL an analyst opens."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.port}/"


def token_for(settings: Settings, host: str, env: dict[str, str] | None = None) -> str | None:
    """The login token (from the variable `[web] token_env` names); ConfigError, in one line,
    when the address is not loopback and there is none."""
    name = settings.web.token_env
    token = (os.environ if env is None else env).get(name, "").strip() or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"the reading room on {host} would be reachable from other machines: set a token in "
            f"${name} ([web] token_env), or serve on 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise ConfigError(f"${name} is too short for a login token: use at least 16 characters")
    return token


def build(
    settings: Settings,
    warehouse: Warehouse,
    host: str,
    port: int,
    *,
    services: Callable[[], Any] | None = None,
    encoder: Callable[[], Any] | None = None,
    leads: Callable[[], Any] | None = None,
    clock: Clock = utc_now,
    env: dict[str, str] | None = None,
) -> Any:
    """The app for an address, its guard checked (ConfigError when it may not serve there)."""
    token = token_for(settings, host, env)
    guard = Guard.create(host, port, settings.web.base_url, token)
    site = Site(settings, warehouse, services=services, encoder=encoder, leads=leads, clock=clock)
    return create_app(site, guard)


def _config(app: Any, address: Address) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=address.host,
        port=address.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )


def check_free(address: Address) -> None:
    """ConfigError in one line when the port is taken (before any model loads)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address.host, address.port))
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the reading room on {address.host}:{address.port}: {exc.strerror}"
                f" ([web] port, or --port)"
            ) from None


def serve_forever(app: Any, address: Address) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM."""
    uvicorn.Server(_config(app, address)).run()


class BackgroundServer:
    """The reading room on a thread of the daemon's process."""

    def __init__(self, app: Any, address: Address) -> None:
        self.address = address
        self.description = f"the reading room is at {address.url}"
        self._server = uvicorn.Server(_config(app, address))
        self._thread = threading.Thread(target=self._server.run, name="newswatch-web", daemon=True)

    def start(self, wait_s: float = 10.0) -> None:
        """Start serving; ConfigError when it could not bind within `wait_s`."""
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < wait_s:
            threading.Event().wait(0.05)
            waited += 0.05
        if not self._server.started:
            raise ConfigError(
                f"the reading room did not start on {self.address.host}:{self.address.port}"
            )

    def stop(self, wait_s: float = 5.0) -> None:
        """Stop serving and wait for open requests (up to `wait_s`)."""
        self._server.should_exit = True
        self._thread.join(wait_s)


def beside_daemon(daemon: Any) -> BackgroundServer | None:
    """The reading room `newswatch run` serves beside its jobs ([web] enabled), on the daemon's
    warehouse and models; ConfigError (one line) when it may not serve where it is told."""
    web = daemon.settings.web
    if not web.enabled:
        return None
    address = Address(web.host, web.port)
    app = build(
        daemon.settings,
        daemon.warehouse,
        address.host,
        address.port,
        services=lambda: daemon.services,
    )
    check_free(address)
    return BackgroundServer(app, address)
