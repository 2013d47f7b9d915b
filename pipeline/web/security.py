"""What keeps the reading room safe on a laptop and on a team's server: the Host check, the login
token and its session cookie, CSRF tokens for every POST, and the response headers.

Pure functions and one ASGI middleware; the handlers never see a request that failed here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "newswatch_session"
CSRF_COOKIE = "newswatch_csrf"
#: A login lasts this long; the token's holder logs in again after it.
SESSION_S = 30 * 86400

#: No inline script or style, nothing from another origin, no framing, forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
#: Reachable without a session: the login form, and the static files it needs.
OPEN_PATHS = ("/login", "/static/")


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, port: int, base_url: str) -> frozenset[str]:
    """Host header values the server answers to (lower case, with and without the port).

    A loopback server answers to its loopback names only: a page on another site that rebinds its
    own DNS name to 127.0.0.1 sends that name, and is refused."""
    names = {bind.lower()}
    if is_loopback(bind):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    if base_url:
        netloc = urlsplit(base_url).netloc.lower()
        if netloc:
            names.add(netloc)
            names.add(netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc)
    out = set()
    for name in names:
        host = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out.add(host)
        out.add(f"{host}:{port}")
    return frozenset(out)


@dataclass(frozen=True)
class Guard:
    """The security settings of one server: who may ask, and the secret that signs cookies."""

    hosts: frozenset[str]
    token: str | None  # None: no login (loopback only)
    secret: bytes  # signs sessions and CSRF tokens; new at each start unless derived from the token
    secure_cookies: bool = False  # behind https (base_url): cookies only over TLS

    @classmethod
    def create(cls, bind: str, port: int, base_url: str, token: str | None) -> Guard:
        """The guard for a server bound to `bind:port`, reached as `base_url`."""
        # Derived from the token, a login survives a restart; without one there is nothing to keep.
        secret = (
            hashlib.sha256(b"newswatch-web-session\0" + token.encode()).digest()
            if token
            else secrets.token_bytes(32)
        )
        return cls(
            hosts=allowed_hosts(bind, port, base_url),
            token=token or None,
            secret=secret,
            secure_cookies=base_url.lower().startswith("https://"),
        )

    def _sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str) -> bool:
        """Whether a login form carried the server's token (compared in constant time)."""
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def new_session(self, now: float | None = None) -> str:
        """A session cookie value: when it was issued, and its signature."""
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._sign('session:' + issued)}"

    def session_ok(self, value: str | None, now: float | None = None) -> bool:
        """Whether a session cookie is one this server issued and has not expired."""
        if not value or "." not in value:
            return False
        issued, signature = value.split(".", 1)
        if not issued.isdigit() or not hmac.compare_digest(
            signature, self._sign("session:" + issued)
        ):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= SESSION_S

    def csrf_token(self, cookie: str) -> str:
        """The form token that goes with a browser's CSRF cookie."""
        return self._sign("csrf:" + cookie)

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        """Whether a POST carried the form token of its own CSRF cookie."""
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), token)


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies by name."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no cookie at all
                continue
    return {k: m.value for k, m in jar.items()}


def header(scope: Scope, name: bytes) -> str | None:
    """One request header, decoded, or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def cookie_header(
    name: str, value: str, *, max_age: int | None, secure: bool, http_only: bool = True
) -> bytes:
    """A Set-Cookie value: SameSite=Strict, path /, HttpOnly unless said otherwise."""
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts).encode()


def _is_open(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in OPEN_PATHS)


def _wants_json(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path.endswith(".json") or "application/json" in (header(scope, b"accept") or "")


class GuardMiddleware:
    """Refuses unknown Host headers and, with a token, requests without a session; gives every
    browser a CSRF cookie; adds the security headers to every response."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one HTTP request, then pass it on with the headers added to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = (header(scope, b"host") or "").lower()
        if host not in self.guard.hosts:
            await _plain(
                send, 400, "unknown Host header: this server answers to its own names only"
            )
            return
        cookies = cookies_of(scope)
        if (
            self.guard.token is not None
            and not _is_open(scope["path"])
            and not self.guard.session_ok(cookies.get(SESSION_COOKIE))
        ):
            await _login_needed(scope, send, _wants_json(scope))
            return
        csrf = cookies.get(CSRF_COOKIE)
        fresh = None
        if not csrf:
            fresh = secrets.token_urlsafe(24)
            scope.setdefault("state", {})["csrf_cookie"] = fresh
        else:
            scope.setdefault("state", {})["csrf_cookie"] = csrf

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if fresh is not None:
                    headers.append(
                        (
                            b"set-cookie",
                            cookie_header(
                                CSRF_COOKIE, fresh, max_age=None, secure=self.guard.secure_cookies
                            ),
                        )
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(
    send: Send, status: int, text: str, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _login_needed(scope: Scope, send: Send, as_json: bool) -> None:
    if as_json or scope.get("method", "GET") not in ("GET", "HEAD"):
        await _plain(send, 401, "log in first: this server needs its token")
        return
    target = scope["path"] + (
        ("?" + scope["query_string"].decode()) if scope.get("query_string") else ""
    )
    location = "/login?next=" + quote(target, safe="")
    await _plain(send, 303, "log in first", [(b"location", location.encode())])


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
