"""Every real-world feed test file (feedparser's suite) is polled without crashing: what can be
salvaged is stored, the rest is a recorded parse error."""

from __future__ import annotations

import re

import feedparser
import pytest

from pipeline.ingest import run_cycle
from tests.conftest import FEED_CORPUS, require_shared
from tests.helpers import make_pipeline, write_feeds

_HEADER_RE = re.compile(rb"^\s*Header:\s*([A-Za-z-]+):\s*(.+?)\s*$", re.M)


def served_headers(body: bytes) -> dict[str, str]:
    """The HTTP headers a test file's leading comment asks to be served with."""
    head = body[:2000].split(b"-->", 1)[0]
    return {k.decode().lower(): v.decode("latin-1") for k, v in _HEADER_RE.findall(head)}


@pytest.mark.slow
def test_every_corpus_feed_is_polled_without_crashing(make_settings, fake_embedder, loopback):
    root = require_shared(FEED_CORPUS)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "LICENSE")
    assert len(files) > 500
    urls = []
    salvageable = 0  # files feedparser itself finds entries with content in
    for i, path in enumerate(files):
        body = path.read_bytes()
        headers = served_headers(body)
        parsed = feedparser.parse(body, response_headers=headers)
        salvageable += any(
            e.get("title") or e.get("link") or e.get("summary") for e in parsed.entries
        )
        ctype = headers.pop("content-type", None)
        extra = {k: v for k, v in headers.items() if k in ("content-location", "content-language")}
        loopback.route(f"/f/{i}.xml", body, content_type=ctype, headers=extra)
        urls.append(loopback.url(f"/f/{i}.xml"))
    settings = make_settings(
        "[ingest]\nfetch_pages = false\n[http]\nallow_private_networks = true"
        "\nper_host_delay_s = 0.0\nconcurrency = 32\n"
    )
    services = make_pipeline(settings, fake_embedder)
    write_feeds(settings, urls)
    summary = run_cycle(services)
    assert summary.feeds_polled == len(files)
    with services.warehouse.connect(read_only=True) as db:
        polls = db.rows("SELECT status, error_kind FROM feed_polls")
        stored = db.scalar("SELECT count(*) FROM articles WHERE source = 'feed'")
        # Many test files share links (http://example.com/): those entries point at one article.
        feeds_with_entries = db.scalar("SELECT count(DISTINCT feed_id) FROM feed_entries")
        unrecorded = db.scalar(
            "SELECT count(*) FROM feed_polls p WHERE p.new_entries > 0 AND NOT EXISTS "
            "(SELECT 1 FROM feed_entries e WHERE e.feed_id = p.feed_id)"
        )
    assert len(polls) == len(files)
    kinds = {(s, k) for s, k in polls}
    assert kinds <= {("ok", None), ("error", "parse")}, kinds
    parse_errors = sum(1 for s, _ in polls if s == "error")
    # A few files hold entries whose only content is markup attributes: nothing to store.
    assert stored > 0 and feeds_with_entries >= 0.95 * salvageable
    assert unrecorded == 0  # every salvaged entry was kept
    print(
        f"{len(files)} feeds: {len(files) - parse_errors} parsed, {parse_errors} parse errors, "
        f"{stored} articles, entries kept from {feeds_with_entries} feeds"
    )
