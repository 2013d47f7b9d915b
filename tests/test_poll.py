"""Polling through the orchestrator: conditional GET, backoff that never drops a feed,
permanent redirects, 410, Retry-After, and a feed_polls row for every poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest import run_cycle
from pipeline.testkit.server import rss
from tests.helpers import write_feeds

#: The clock of the polls: the last half hour of 2026, so backoff runs into the new year.
START = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)

ITEMS = [
    {
        "title": "Item one",
        "link": "http://127.0.0.1:9/one",
        "guid": "1",
        "description": "First item text.",
    }
]


@pytest.fixture
def services(make_services):
    return make_services("[ingest]\nfetch_pages = false\n")


def feed_row(services, url):
    with services.warehouse.connect(read_only=True) as db:
        return db.dicts("SELECT * FROM feeds WHERE config_url = ?", [url])[0]


def polls(services):
    with services.warehouse.connect(read_only=True) as db:
        return db.dicts("SELECT * FROM feed_polls ORDER BY id")


def test_conditional_get_then_unchanged_body(services, loopback):
    loopback.route("/etag.xml", rss(ITEMS), content_type="application/rss+xml", etag='"v1"')
    loopback.route("/plain.xml", rss(ITEMS), content_type="application/rss+xml")
    urls = [loopback.url("/etag.xml"), loopback.url("/plain.xml")]
    write_feeds(services.settings, urls)
    first = run_cycle(services, feeds=urls)
    assert first.feeds_polled == 2 and first.articles_new == 1 and first.known_urls == 1
    second = run_cycle(services, feeds=urls)
    assert second.feeds_not_modified == 2 and second.articles_new == 0
    assert loopback.hits("/etag.xml")[-1].get("if-none-match") == '"v1"'
    statuses = [(p["status"], p["http_status"]) for p in polls(services)[-2:]]
    assert sorted(statuses) == [("not_modified", 304), ("unchanged", 200)]


def test_errors_back_off_capped_and_success_resets(services, loopback):
    url = loopback.url("/flaky.xml")
    loopback.route("/flaky.xml", "down", status=500)
    write_feeds(services.settings, [url])
    delays = []
    for k in range(12):
        now = START + timedelta(minutes=k)
        summary = run_cycle(services, feeds=[url], now=now)
        assert summary.feeds_failed == 1
        row = feed_row(services, url)
        delays.append((row["next_poll_at"] - now).total_seconds())
    assert row["error_count"] == 12 and row["last_error_kind"] == "http_5xx" and row["enabled"]
    assert delays[-1] > delays[0]
    assert max(delays) <= 24 * 3600 + 1
    loopback.route("/flaky.xml", rss(ITEMS), content_type="application/rss+xml")
    run_cycle(services, feeds=[url], now=START + timedelta(days=1))
    row = feed_row(services, url)
    assert row["error_count"] == 0 and row["last_status"] == "ok"
    assert row["last_error_kind"] == "http_5xx"  # the last error stays visible
    assert len(polls(services)) == 13


def test_retry_after_is_honoured(services, loopback):
    url = loopback.url("/busy.xml")
    loopback.route("/busy.xml", "slow down", status=429, headers={"Retry-After": "7200"})
    write_feeds(services.settings, [url])
    run_cycle(services, feeds=[url], now=START)
    assert feed_row(services, url)["next_poll_at"] >= START + timedelta(seconds=7200)


def test_permanent_redirect_moves_the_feed(services, loopback):
    old, new = loopback.url("/old.xml"), loopback.url("/new.xml")
    loopback.route("/old.xml", redirect_to=new, status=301)
    loopback.route("/new.xml", rss(ITEMS), content_type="application/rss+xml")
    write_feeds(services.settings, [old])
    run_cycle(services, feeds=[old])
    assert feed_row(services, old)["url"] == new
    loopback.reset_log()
    run_cycle(services, feeds=[old])
    assert not loopback.hits("/old.xml") and loopback.hits("/new.xml")


def test_gone_disables_with_reason_and_is_not_due(services, loopback):
    url = loopback.url("/gone.xml")
    loopback.route("/gone.xml", "bye", status=410)
    write_feeds(services.settings, [url])
    run_cycle(services, feeds=[url], now=START)
    row = feed_row(services, url)
    assert not row["enabled"] and "410" in row["disabled_reason"]
    loopback.reset_log()
    run_cycle(services, now=START + timedelta(days=30))
    assert not loopback.hits("/gone.xml")


def test_every_poll_writes_a_row(services, loopback):
    loopback.route("/ok.xml", rss(ITEMS), content_type="application/rss+xml")
    loopback.route("/html.xml", "<html><body>not a feed</body></html>")
    loopback.route("/empty.xml", "", content_type="application/rss+xml")
    urls = [loopback.url(p) for p in ("/ok.xml", "/html.xml", "/empty.xml")]
    write_feeds(services.settings, urls)
    run_cycle(services)
    rows = {p["feed_id"]: p for p in polls(services)}
    assert len(rows) == 3
    kinds = sorted((p["status"], p["error_kind"]) for p in rows.values())
    assert kinds == [("error", "parse"), ("error", "parse"), ("ok", None)]
    ok = [p for p in rows.values() if p["status"] == "ok"][0]
    assert ok["http_status"] == 200 and ok["bytes"] > 0 and ok["new_entries"] == 1


def test_feeds_file_edits_apply_next_cycle(services, loopback):
    loopback.route("/a.xml", rss(ITEMS), content_type="application/rss+xml")
    write_feeds(services.settings, [])
    assert run_cycle(services).feeds_polled == 0
    write_feeds(services.settings, [loopback.url("/a.xml")])
    assert run_cycle(services).feeds_polled == 1
