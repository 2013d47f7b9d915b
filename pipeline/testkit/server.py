"""A loopback HTTP server for tests and benchmarks: routes that can be changed while it runs,
ETag/Last-Modified with 304s, gzip, redirects, slow, stalled and broken responses, a log of
every request so tests can assert what was (not) fetched, and the bodies of POSTs (webhooks)."""

from __future__ import annotations

import contextlib
import gzip as gzip_lib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    """How one path answers."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay_s: float = 0.0
    stall_s: float = 0.0  # send headers, then stall before the body
    redirect_to: str | None = None
    drop: bool = False  # close the connection without answering
    handler: Callable[[Route, dict[str, str]], Route] | None = None


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 and a random port; use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.arrivals: list[tuple[str, float]] = []  # (path, time.monotonic() on arrival)
        self.posts: list[tuple[str, dict[str, str], bytes]] = []  # (path, headers, body)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._serve(self)

            def do_HEAD(self) -> None:  # noqa: N802
                server._serve(self, head=True)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server._serve(self, body=body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, body: bytes | str = b"", **kwargs: Any) -> Route:
        """Set (or replace) what a path answers."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        route = Route(body=body, **kwargs)
        with self._lock:
            self.routes[path] = route
        return route

    def hits(self, path: str) -> list[dict[str, str]]:
        """Request headers of every request to a path (query string ignored)."""
        with self._lock:
            return [h for _, p, h in self.log if p.split("?")[0] == path]

    def arrived_at(self, path: str) -> list[float]:
        """When each request to a path arrived (time.monotonic())."""
        with self._lock:
            return [t for p, t in self.arrivals if p.split("?")[0] == path]

    def posted(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        """Headers and body of every POST to a path, whatever it was answered."""
        with self._lock:
            return [(h, b) for p, h, b in self.posts if p.split("?")[0] == path]

    def reset_log(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.log.clear()
            self.arrivals.clear()
            self.posts.clear()

    def _serve(
        self, req: BaseHTTPRequestHandler, head: bool = False, body: bytes | None = None
    ) -> None:
        headers = {k.lower(): v for k, v in req.headers.items()}
        with self._lock:
            self.log.append((req.command, req.path, headers))
            if body is not None:
                self.posts.append((req.path, headers, body))
            self.arrivals.append((req.path, time.monotonic()))
            route = self.routes.get(req.path) or self.routes.get(req.path.split("?")[0])
        if route is None:
            route = Route(body=b"not found", status=404, content_type="text/plain")
        if route.handler is not None:
            route = route.handler(route, headers)
        if route.drop:
            req.close_connection = True
            req.connection.close()
            return
        if route.delay_s:
            time.sleep(route.delay_s)
        if route.redirect_to is not None:
            req.send_response(route.status if 300 <= route.status < 400 else 302)
            req.send_header("Location", route.redirect_to)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        if (
            route.etag
            and headers.get("if-none-match") == route.etag
            or (route.last_modified and headers.get("if-modified-since") == route.last_modified)
        ):
            req.send_response(304)
            if route.etag:
                req.send_header("ETag", route.etag)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        payload = route.body
        req.send_response(route.status)
        if route.content_type:
            req.send_header("Content-Type", route.content_type)
        if route.etag:
            req.send_header("ETag", route.etag)
        if route.last_modified:
            req.send_header("Last-Modified", route.last_modified)
        if route.gzip:
            payload = gzip_lib.compress(payload)
            req.send_header("Content-Encoding", "gzip")
        for k, v in route.headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        if route.stall_s:
            req.wfile.flush()
            time.sleep(route.stall_s)
        if not head:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                req.wfile.write(payload)  # the client may hang up first


def rss(items: list[dict], *, title: str = "Test feed", link: str = "http://example.org/") -> str:
    """An RSS 2.0 document; each item may have title, link, guid, description, content, pubDate."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{title}</title><link>{link}</link><description>d</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "pubDate", "author"):
            if key in item:
                parts.append(f"<{key}>{_esc(item[key])}</{key}>")
        if "description" in item:
            parts.append(f"<description>{_esc(item['description'])}</description>")
        if "content" in item:
            parts.append(f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts)


def _esc(value: str) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
