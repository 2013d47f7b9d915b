"""The HTTP layer: limits, redirects, private addresses, conditional GET, robots.txt."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from pipeline.config.settings import HttpSettings
from pipeline.errors import FetchError
from pipeline.net.http import Fetcher
from pipeline.net.responses import parse_retry_after


def settings(**kw) -> HttpSettings:
    base = dict(
        connect_timeout_s=2.0,
        read_timeout_s=0.5,
        total_timeout_s=3.0,
        per_host_delay_s=0.0,
        max_body_bytes=64 * 1024,
    )
    base.update(kw)
    return HttpSettings(**base)


def fetch(url, s=None, **kw):
    async def run():
        async with Fetcher(s or settings()) as f:
            return await f.fetch(url, **kw)

    return asyncio.run(run())


def kind_of(url, s=None, **kw) -> FetchError:
    with pytest.raises(FetchError) as err:
        fetch(url, s, **kw)
    return err.value


def test_ok_and_user_agent(loopback):
    loopback.route("/f", "<rss/>", content_type="application/rss+xml")
    r = fetch(loopback.url("/f"), purpose="feed")
    assert r.status == 200 and r.body == b"<rss/>" and r.content_type == "application/rss+xml"
    assert loopback.hits("/f")[0]["user-agent"].startswith("newswatch/")


def test_status_errors_are_classified(loopback):
    loopback.route("/500", "x", status=500)
    loopback.route("/404", "x", status=404)
    loopback.route("/410", "x", status=410)
    loopback.route("/429", "x", status=429, headers={"Retry-After": "120"})
    assert kind_of(loopback.url("/500"), purpose="feed").kind == "http_5xx"
    assert kind_of(loopback.url("/404"), purpose="feed").kind == "http_4xx"
    assert kind_of(loopback.url("/410"), purpose="feed").kind == "gone"
    err = kind_of(loopback.url("/429"), purpose="feed")
    assert err.kind == "http_4xx" and err.status == 429 and err.retry_after_s == 120


def test_stalled_connection_times_out(loopback):
    loopback.route("/slow", "x" * 100, stall_s=3)
    started = time.monotonic()
    assert kind_of(loopback.url("/slow"), purpose="feed").kind == "timeout"
    assert time.monotonic() - started < 3


def test_body_cap_counts_decompressed_bytes(loopback):
    loopback.route("/big", b"x" * 200_000)
    loopback.route("/bomb", b"\0" * 2_000_000, gzip=True)  # ~2 KB on the wire
    assert kind_of(loopback.url("/big"), purpose="feed").kind == "too_large"
    assert kind_of(loopback.url("/bomb"), purpose="feed").kind == "too_large"
    loopback.route("/small", b"y" * 1000, gzip=True)
    assert fetch(loopback.url("/small"), purpose="feed").body == b"y" * 1000


def test_redirects_loop_limit_and_permanent(loopback):
    loopback.route("/a", redirect_to="/b", status=302)
    loopback.route("/b", redirect_to="/a", status=302)
    assert kind_of(loopback.url("/a"), purpose="feed").kind == "redirect"
    for i in range(7):
        loopback.route(f"/r{i}", redirect_to=f"/r{i + 1}", status=302)
    loopback.route("/r7", "end")
    assert kind_of(loopback.url("/r0"), purpose="feed").kind == "redirect"
    assert fetch(loopback.url("/r3"), purpose="feed").body == b"end"  # 4 hops: fine
    loopback.route("/old", redirect_to=loopback.url("/new"), status=301)
    loopback.route("/new", "feed")
    r = fetch(loopback.url("/old"), purpose="feed")
    assert r.permanent_redirect == loopback.url("/new") and r.final_url == loopback.url("/new")
    loopback.route("/temp", redirect_to="/new", status=302)
    assert fetch(loopback.url("/temp"), purpose="feed").permanent_redirect is None


def test_private_addresses_and_schemes_for_pages(loopback, tmp_path):
    loopback.route("/page", "<html><body>hi</body></html>")
    assert kind_of(loopback.url("/page"), purpose="page").kind == "blocked"
    assert fetch(loopback.url("/page"), purpose="page", allow_private=True).status == 200
    assert fetch(loopback.url("/page"), purpose="feed", user_configured=True).status == 200
    assert kind_of("file:///etc/passwd", purpose="page").kind == "blocked"
    assert kind_of("ftp://example.org/x", purpose="page").kind == "blocked"
    assert len(loopback.hits("/page")) == 2  # only the two exempt requests arrived


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "127.1",
        "2130706433",
        "0x7f000001",
        "127.0.0.2",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
        "192.168.1.1",
        "[fe80::1]",
    ],
)
def test_every_spelling_of_a_private_address_is_blocked(loopback, host):
    loopback.route("/canary", "secret")
    port = loopback.port
    err = kind_of(f"http://{host}:{port}/canary", purpose="page")
    assert err.kind == "blocked", (host, err)
    assert not loopback.hits("/canary")


def test_public_feed_redirecting_to_a_private_address_is_blocked(loopback, monkeypatch):
    # The feed's own host is trusted (the user configured it); a hop to another, private host
    # is not. "localhost" stands for a public feed host that redirects inwards.
    loopback.route("/canary", "secret")
    loopback.route("/feed", redirect_to=f"http://127.0.0.1:{loopback.port}/canary", status=302)
    assert kind_of(f"http://localhost:{loopback.port}/feed", purpose="feed").kind == "blocked"
    assert not loopback.hits("/canary")
    loopback.route("/same-host", redirect_to="/canary", status=302)
    assert fetch(loopback.url("/same-host"), purpose="feed").body == b"secret"


def test_a_malformed_address_is_an_error_not_a_crash(loopback):
    loopback.route("/canary", "secret")
    err = kind_of(f"http://0177.0.0.1:{loopback.port}/canary", purpose="page")
    assert err.kind == "invalid_url" and not loopback.hits("/canary")


def test_guard_connects_to_the_address_it_checked(loopback, monkeypatch):
    # DNS rebinding: a name that first answers with a public address and then with loopback.
    # The guard resolves once, checks, and connects to that same (here unreachable) address.
    loopback.route("/canary", "secret")
    real = socket.getaddrinfo
    answers = {"n": 0}

    def rebinding(host, *args, **kwargs):
        if host == "news.example":
            answers["n"] += 1
            host = "93.184.216.34" if answers["n"] == 1 else "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    err = kind_of(
        f"http://news.example:{loopback.port}/canary",
        settings(connect_timeout_s=0.5, total_timeout_s=1.0),
        purpose="page",
    )
    assert err.kind in ("connect", "timeout") and answers["n"] == 1
    assert not loopback.hits("/canary")
    # Once the name answers loopback, the guard refuses it.
    assert kind_of(f"http://news.example:{loopback.port}/canary", purpose="page").kind == "blocked"
    assert not loopback.hits("/canary")


def test_local_files_only_for_configured_feeds(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    assert fetch(str(feed), purpose="feed", user_configured=True).body == b"<rss/>"
    assert fetch(feed.as_uri(), purpose="feed", user_configured=True).body == b"<rss/>"
    assert kind_of(str(feed), purpose="feed").kind == "blocked"
    assert kind_of(str(feed), purpose="page").kind == "blocked"


def test_conditional_get(loopback):
    loopback.route("/f", "<rss/>", etag='"v1"')
    r = fetch(loopback.url("/f"), purpose="feed", etag='"v1"')
    assert r.status == 304 and r.body == b""
    assert loopback.hits("/f")[-1]["if-none-match"] == '"v1"'


def test_per_host_politeness(loopback):
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(route, headers):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.1)
        with lock:
            active["now"] -= 1
        return route.__class__(body=b"ok")

    for i in range(8):
        loopback.route(f"/p{i}", handler=slow)

    async def run():
        async with Fetcher(settings(concurrency=16, per_host_delay_s=0.05)) as f:
            started = time.monotonic()
            await asyncio.gather(
                *(f.fetch(loopback.url(f"/p{i}"), purpose="feed") for i in range(8))
            )
            return time.monotonic() - started

    elapsed = asyncio.run(run())
    assert active["max"] <= 2
    assert elapsed >= 7 * 0.05  # the minimum gap between requests to one host


def test_robots(loopback):
    async def allowed(path, robots_status=200):
        async with Fetcher(settings()) as f:
            return await f.robots_allowed(loopback.url(path), allow_private=True)

    loopback.route("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    assert asyncio.run(allowed("/public/a")) is True
    assert asyncio.run(allowed("/private/a")) is False
    loopback.route("/robots.txt", "gone", status=404)
    assert asyncio.run(allowed("/private/a")) is True
    loopback.route("/robots.txt", "oops", status=503)
    with pytest.raises(FetchError) as err:
        asyncio.run(allowed("/private/a"))
    assert err.value.kind == "robots_unavailable"


def test_retry_after_parsing():
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
