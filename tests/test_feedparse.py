"""Feed parsing: salvage, stable keys, links, dates, titles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.errors import FeedParseError
from pipeline.feeds.parse import parse_feed
from pipeline.testkit.server import rss

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def parse(body, url="http://news.example.org/feed.xml", **kw):
    return parse_feed(
        body.encode() if isinstance(body, str) else body, url=url, fetched_at=NOW, **kw
    )


def test_keys_links_dates_titles():
    feed = parse(
        rss(
            [
                {
                    "title": "A <b>bold</b> &amp; title",
                    "link": "/news/1?utm_source=rss",
                    "guid": "id-1",
                    "pubDate": "Mon, 16 Nov 2026 10:00:00 +0200",
                    "description": "<p>Summary one</p>",
                },
                {
                    "title": "No guid",
                    "link": "https://news.example.org/news/2#top",
                    "pubDate": "Tue, 01 Jan 2030 00:00:00 GMT",
                },
                {"title": "Nothing but text", "description": "Plain summary"},
            ]
        )
    )
    a, b, c = sorted(feed.entries, key=lambda e: e.title)
    assert a.title == "A bold & title"
    assert a.key.startswith("guid:") and a.key.endswith("id-1")
    assert a.link == "http://news.example.org/news/1?utm_source=rss"
    assert a.published_at == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    assert a.summary == "Summary one"
    assert b.key == "link:https://news.example.org/news/2"  # canonical link, no fragment
    assert b.published_at == NOW  # future date → fetch time
    assert c.key.startswith("hash:") and c.published_at == NOW  # missing date → fetch time
    again = parse(rss([{"title": "Nothing but text", "description": "Plain summary"}]))
    assert again.entries[0].key == c.key  # stable across polls


def test_content_encoded_is_plain_text():
    feed = parse(
        rss(
            [
                {
                    "title": "t",
                    "link": "http://x.org/1",
                    "guid": "1",
                    "content": "<p>First para.</p><p>Second <i>para</i>.</p>",
                }
            ]
        )
    )
    assert feed.entries[0].content == "First para.\n\nSecond para."


def test_unsafe_links_are_dropped():
    feed = parse(
        rss(
            [
                {"title": "t", "link": "file:///etc/passwd", "guid": "1"},
                {"title": "u", "link": "javascript:alert(1)", "guid": "2"},
            ]
        )
    )
    assert all(e.link is None for e in feed.entries)


def test_salvage_ill_formed_feed():
    body = rss([{"title": "ok item", "link": "http://x.org/1", "guid": "1"}]).replace(
        "</channel></rss>", "<item><title>broken & unescaped</title></item>"
    )
    feed = parse(body)
    assert feed.bozo and any(e.title == "ok item" for e in feed.entries)


@pytest.mark.parametrize(
    "body", ["", "   ", "<html><body><p>Not a feed</p></body></html>", "\x00\x01garbage"]
)
def test_not_a_feed(body):
    with pytest.raises(FeedParseError):
        parse(body)


def test_invalid_utf8_is_salvaged():
    body = rss([{"title": "caf\u00e9", "link": "http://x.org/1", "guid": "1"}]).encode()
    body = body.replace("caf\u00e9".encode(), b"caf\xe9\xff")
    feed = parse(body)
    assert len(feed.entries) == 1 and feed.entries[0].title.startswith("caf")


def test_max_entries_keeps_newest():
    items = [
        {
            "title": f"t{i}",
            "guid": str(i),
            "link": f"http://x.org/{i}",
            "pubDate": f"Mon, {10 + i:02d} Nov 2026 10:00:00 GMT",
        }
        for i in range(5)
    ]
    feed = parse(rss(items), max_entries=2)
    assert [e.title for e in feed.entries] == ["t4", "t3"]
