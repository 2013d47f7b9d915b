"""The ingest cycle end to end on a loopback site: pages vs feed text, canonical URLs, robots.txt,
a PDF link, private addresses, idempotency, batches, and a crash in the middle of a cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.ingest import run_cycle
from pipeline.testkit.server import rss
from tests.helpers import article_page, child_env, make_pipeline, paragraphs, write_feeds


@pytest.fixture
def site(loopback):
    """A news site: a summary-only feed, a full-content feed, pages, robots.txt, a PDF."""
    loopback.route("/robots.txt", "User-agent: *\nDisallow: /members/\n", content_type="text/plain")
    summary_items, full_items = [], []
    for i, topic in enumerate(
        [
            "Treasury sanctions a satellite imagery firm",
            "Counter-espionage officials describe a space-sector case",
            "A weather satellite reaches orbit",
        ]
    ):
        path = f"/news/{i}.html"
        canonical = f"/news/{i}-canonical.html" if i == 0 else None
        loopback.route(
            path,
            article_page(
                topic, paragraphs(topic), canonical=loopback.url(canonical) if canonical else None
            ),
        )
        summary_items.append(
            {
                "title": topic,
                "link": loopback.url(path) + "?utm_source=rss&fbclid=x",
                "guid": f"s{i}",
                "description": f"{topic}. First sentence only.",
            }
        )
    loopback.route("/members/secret.html", article_page("Members only", paragraphs("secret")))
    summary_items.append(
        {
            "title": "Members only story",
            "link": loopback.url("/members/secret.html"),
            "guid": "s-members",
            "description": "Teaser of the members story.",
        }
    )
    loopback.route("/report.pdf", b"%PDF-1.4 binary", content_type="application/pdf")
    summary_items.append(
        {
            "title": "The annual report",
            "link": loopback.url("/report.pdf"),
            "guid": "s-pdf",
            "description": "The report as a PDF.",
        }
    )
    full_text = " ".join(paragraphs("Full content feed article about export controls", 8))
    loopback.route(
        "/thin.html",
        "<html><body><article><p>Subscribe to read the full story on "
        "export controls, with analysis from our reporters.</p></article></body></html>",
    )
    full_items.append(
        {
            "title": "Export controls tightened",
            "link": loopback.url("/thin.html"),
            "guid": "f0",
            "content": f"<p>{full_text}</p>",
            "description": "Short teaser.",
        }
    )
    loopback.route(
        "/summary.xml", rss(summary_items), content_type="application/rss+xml", etag='"s1"'
    )
    loopback.route("/full.xml", rss(full_items), content_type="application/rss+xml")
    return loopback


@pytest.fixture
def services(make_settings, fake_embedder):
    return make_pipeline(make_settings(), fake_embedder)


def stored(services):
    with services.warehouse.connect(read_only=True) as db:
        return {
            r["title"]: r
            for r in db.dicts("SELECT * FROM articles WHERE source = 'feed' ORDER BY id")
        }


def test_cycle_stores_pages_and_falls_back_to_feed_text(services, site):
    write_feeds(services.settings, [site.url("/summary.xml"), site.url("/full.xml")])
    summary = run_cycle(services)
    assert summary.feeds_polled == 2 and summary.articles_new == 6
    rows = stored(services)
    assert summary.from_page == 3 and summary.from_feed == 3, {
        t: (r["text_source"], r["text_source_reason"]) for t, r in rows.items()
    }
    sanctions = rows["Treasury sanctions a satellite imagery firm"]
    assert sanctions["text_source"] == "page" and "paragraph 5" in sanctions["text"]
    assert "Most read" not in sanctions["text"] and "Copyright" not in sanctions["text"]
    # rel=canonical on the same site wins; tracking parameters never reach the stored URL.
    assert sanctions["canonical_url"] == site.url("/news/0-canonical.html")
    plain = rows["A weather satellite reaches orbit"]
    assert plain["canonical_url"] == site.url("/news/2.html")
    assert plain["author"] == "Jane Reporter"
    members = rows["Members only story"]
    assert members["text_source"] == "feed" and members["text_source_reason"] == "robots_disallowed"
    assert not site.hits("/members/secret.html")
    pdf = rows["The annual report"]
    assert pdf["text_source"] == "feed" and pdf["text_source_reason"].startswith("not_html")
    thin = rows["Export controls tightened"]
    assert thin["text_source"] == "feed" and "shorter than the feed" in thin["text_source_reason"]
    assert "paragraph 7" in thin["text"]
    with services.warehouse.connect(read_only=True) as db:
        orphans = db.scalar(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM "
            "embeddings e WHERE e.article_id = a.id)"
        )
        entries = db.scalar("SELECT count(*) FROM feed_entries")
    assert orphans == 0 and entries == 6


def test_second_cycle_fetches_no_page_and_stores_nothing(services, site):
    write_feeds(services.settings, [site.url("/summary.xml"), site.url("/full.xml")])
    run_cycle(services)
    site.reset_log()
    again = run_cycle(services, feeds=[site.url("/summary.xml"), site.url("/full.xml")])
    assert again.articles_new == 0 and again.new_entries == 0
    fetched = [path for _, path, _ in site.log]
    assert sorted(fetched) == ["/full.xml", "/summary.xml"]
    assert len(stored(services)) == 6


def test_same_article_in_two_feeds_is_fetched_once(services, site):
    site.route(
        "/copy.xml",
        rss(
            [
                {
                    "title": "Same story elsewhere",
                    "link": site.url("/news/2.html?utm_medium=social"),
                    "guid": "other-guid",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    write_feeds(services.settings, [site.url("/summary.xml"), site.url("/copy.xml")])
    summary = run_cycle(services)
    assert len(site.hits("/news/2.html")) == 1 and summary.known_urls == 1
    with services.warehouse.connect(read_only=True) as db:
        ids = db.rows(
            "SELECT feed_id, article_id FROM feed_entries WHERE canonical_url = ?",
            [site.url("/news/2.html")],
        )
    assert len(ids) == 2 and len({a for _, a in ids}) == 1


def test_entry_links_to_private_addresses_are_not_fetched(
    make_settings, fake_embedder, loopback, tmp_path
):
    settings = make_settings("[http]\nallow_private_networks = false\nper_host_delay_s = 0.0\n")
    services = make_pipeline(settings, fake_embedder)
    loopback.route("/inner.html", article_page("Inner", paragraphs("inner")))
    feed = tmp_path / "local-feed.xml"  # a local file: its links get no private-address pass
    feed.write_text(
        rss(
            [
                {
                    "title": "Points inward",
                    "link": loopback.url("/inner.html"),
                    "guid": "1",
                    "description": "Inward teaser.",
                },
                {
                    "title": "Points at a file",
                    "link": "file:///etc/passwd",
                    "guid": "2",
                    "description": "File teaser.",
                },
            ]
        )
    )
    write_feeds(settings, [str(feed)])
    summary = run_cycle(services)
    assert summary.articles_new == 2 and summary.from_feed == 2
    assert not loopback.hits("/inner.html")
    rows = stored(services)
    assert rows["Points inward"]["text_source_reason"].startswith("fetch_failed: blocked")
    assert rows["Points at a file"]["text_source_reason"] == "no_link"
    assert "root:" not in rows["Points at a file"]["text"]


def test_small_batches_each_commit(make_settings, fake_embedder, site):
    settings = make_settings("[ingest]\nbatch_size = 2\n")
    services = make_pipeline(settings, fake_embedder)
    write_feeds(settings, [site.url("/summary.xml"), site.url("/full.xml")])
    assert run_cycle(services).articles_new == 6
    with services.warehouse.connect(read_only=True) as db:
        ids = [r[0] for r in db.rows("SELECT id FROM articles WHERE source = 'feed' ORDER BY id")]
    assert len(ids) == len(set(ids)) == 6


CRASH_SCRIPT = textwrap.dedent("""
    import sys, time
    from pipeline.config.settings import load_settings
    from pipeline.ingest import Services, run_cycle
    from pipeline.ingest.writer import Writer
    from pipeline.testkit.fakes import FakeEmbedder

    services = Services(load_settings(sys.argv[1], env={}), embedder=FakeEmbedder())
    original = Writer._commit
    calls = {"n": 0}

    def slow_write(self, *args):
        calls["n"] += 1
        ok = original(self, *args)
        if calls["n"] == 2:  # one batch stored, the next in flight: wait to be killed
            print("stored one batch", flush=True)
            time.sleep(60)
        return ok

    Writer._commit = slow_write
    run_cycle(services)
""")


def test_sigkill_mid_cycle_leaves_no_partial_article(
    make_settings, fake_embedder, loopback, tmp_path
):
    settings = make_settings("[ingest]\nbatch_size = 2\n")
    services = make_pipeline(settings, fake_embedder)
    items = []
    for i in range(8):
        loopback.route(f"/a/{i}.html", article_page(f"Story {i}", paragraphs(f"story {i}")))
        items.append(
            {
                "title": f"Story {i}",
                "link": loopback.url(f"/a/{i}.html"),
                "guid": f"g{i}",
                "description": f"Story {i} teaser.",
            }
        )
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml", etag='"e1"')
    write_feeds(settings, [loopback.url("/feed.xml")])
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, settings.source],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(tmp_path.parent.parent),
        env=child_env(),
    )
    try:
        line = proc.stdout.readline()
        assert "stored one batch" in line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    with services.warehouse.connect(read_only=True) as db:
        partial = db.scalar(
            "SELECT count(*) FROM articles a WHERE a.source = 'feed' AND (NOT EXISTS (SELECT 1 "
            "FROM embeddings e WHERE e.article_id = a.id) OR NOT EXISTS (SELECT 1 FROM "
            "feed_entries f WHERE f.article_id = a.id))"
        )
        before = db.scalar("SELECT count(*) FROM articles WHERE source = 'feed'")
        etag = db.scalar("SELECT etag FROM feeds")
    assert partial == 0 and 2 <= before < 8
    assert etag is None  # the feed's state was not advanced past unstored entries
    services.reset()
    summary = run_cycle(services)
    with services.warehouse.connect(read_only=True) as db:
        titles = [r[0] for r in db.rows("SELECT title FROM articles WHERE source = 'feed'")]
    assert sorted(titles) == sorted(f"Story {i}" for i in range(8))
    assert summary.articles_new == 8 - before


CANARY_HOSTS = [
    "127.0.0.1",
    "localhost",
    "127.1",
    "2130706433",
    "0x7f000001",
    "127.0.0.2",
    "0.0.0.0",
    "[::1]",
    "[::ffff:127.0.0.1]",
]


def test_a_loopback_feed_does_not_exempt_its_entries(make_settings, fake_embedder, loopback):
    # The feed itself lives on loopback (the user configured it); its entries point at loopback
    # in every spelling and at the cloud metadata address. With the global switch off and no
    # per-feed exemption, not one request may reach them.
    settings = make_settings("[http]\nallow_private_networks = false\nper_host_delay_s = 0.0\n")
    services = make_pipeline(settings, fake_embedder)
    port = loopback.port
    items = [
        {
            "title": f"Canary {i}",
            "link": f"http://{host}:{port}/canary/{i}",
            "guid": f"c{i}",
            "description": f"Canary teaser {i} with some words.",
        }
        for i, host in enumerate(CANARY_HOSTS)
    ]
    items.append(
        {
            "title": "Metadata",
            "link": "http://169.254.169.254/latest/meta-data/",
            "guid": "meta",
            "description": "Metadata teaser with some words.",
        }
    )
    for i in range(len(CANARY_HOSTS)):
        loopback.route(f"/canary/{i}", article_page(f"Canary {i}", paragraphs("secret")))
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/feed.xml")])
    summary = run_cycle(services)
    assert summary.articles_new == len(items) and summary.from_feed == len(items)
    assert [p for _, p, _ in loopback.log] == ["/feed.xml"]  # not even robots.txt
    for row in stored(services).values():
        assert row["text_source_reason"].startswith("fetch_failed: blocked"), row


def test_a_feed_exempted_in_the_feeds_file_may_link_inwards(make_settings, fake_embedder, loopback):
    settings = make_settings("[http]\nallow_private_networks = false\nper_host_delay_s = 0.0\n")
    services = make_pipeline(settings, fake_embedder)
    loopback.route("/inner.html", article_page("Inner story", paragraphs("inner")))
    loopback.route(
        "/feed.xml",
        rss(
            [
                {
                    "title": "Inner story",
                    "link": loopback.url("/inner.html"),
                    "guid": "1",
                    "description": "Inner teaser.",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    loopback.route(
        "/other.xml",
        rss(
            [
                {
                    "title": "Other",
                    "link": loopback.url("/inner.html?x=1"),
                    "guid": "2",
                    "description": "Other teaser.",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    Path(settings.feeds.file).write_text(
        f'[[feeds]]\nurl = "{loopback.url("/feed.xml")}"\nallow_private = true\n\n'
        f'[[feeds]]\nurl = "{loopback.url("/other.xml")}"\n',
        encoding="utf-8",
    )
    run_cycle(services)
    assert len(loopback.hits("/inner.html")) == 1  # the exempt feed's entry only
    rows = stored(services)
    assert rows["Inner story"]["text_source"] == "page"


def test_one_slow_feed_does_not_hold_back_the_pages_of_the_others(
    make_settings, fake_embedder, loopback
):
    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    loopback.route(
        "/slow.xml",
        rss(
            [
                {
                    "title": "Slow one",
                    "link": loopback.url("/s.html"),
                    "guid": "s",
                    "description": "Slow teaser.",
                }
            ]
        ),
        content_type="application/rss+xml",
        delay_s=4.0,
    )
    loopback.route("/s.html", article_page("Slow one", paragraphs("slow")))
    fast = []
    for i in range(3):
        loopback.route(f"/f{i}.html", article_page(f"Fast {i}", paragraphs(f"fast {i}")))
        fast.append(
            {
                "title": f"Fast {i}",
                "link": loopback.url(f"/f{i}.html"),
                "guid": f"f{i}",
                "description": f"Fast teaser {i}.",
            }
        )
    loopback.route("/fast.xml", rss(fast), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/slow.xml"), loopback.url("/fast.xml")])
    summary = run_cycle(services)
    assert summary.articles_new == 4
    slow_answered = loopback.arrived_at("/slow.xml")[0] + 4.0
    for i in range(3):
        assert loopback.arrived_at(f"/f{i}.html")[0] < slow_answered - 2.0


@pytest.mark.model
def test_a_huge_page_is_embedded_in_part_and_stored_whole(
    make_settings, embedder, loopback, monkeypatch, caplog
):
    settings = make_settings()
    services = make_pipeline(settings, embedder)
    monkeypatch.setattr(embedder, "max_chunks", 4)
    words = [f"word{i % 997} report {i}" for i in range(8000)]
    loopback.route(
        "/huge.html",
        article_page("A huge page", [" ".join(words[k : k + 400]) for k in range(0, 8000, 400)]),
    )
    loopback.route(
        "/feed.xml",
        rss(
            [
                {
                    "title": "A huge page",
                    "link": loopback.url("/huge.html"),
                    "guid": "h",
                    "description": "Huge teaser.",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    write_feeds(settings, [loopback.url("/feed.xml")])
    with caplog.at_level("WARNING"):
        assert run_cycle(services).articles_new == 1
    with services.warehouse.connect(read_only=True) as db:
        aid, text_words = db.one("SELECT id, word_count FROM articles WHERE source = 'feed'")
        chunks = db.scalar("SELECT count(*) FROM chunk_embeddings WHERE article_id = ?", [aid])
    assert chunks == 4 and text_words >= 8000 * 3
    assert any(
        "huge.html" in r.getMessage() and "first 4 of" in r.getMessage() for r in caplog.records
    )


def test_a_stop_stores_the_pages_fetched_and_leaves_the_rest_due(
    make_settings, fake_embedder, loopback
):
    import threading
    import time
    from datetime import UTC, datetime

    from pipeline.ingest import Reporter

    services = make_pipeline(make_settings(), fake_embedder)
    items = []
    for i in range(4):
        # Two pages answer at once, two only after long after the stop.
        loopback.route(
            f"/p/{i}.html",
            article_page(f"Story {i}", paragraphs(f"story {i} about ports")),
            delay_s=0 if i < 2 else 60,
        )
        items.append({"title": f"Story {i}", "link": loopback.url(f"/p/{i}.html"), "guid": f"{i}"})
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(services.settings, [loopback.url("/feed.xml")])
    stop = threading.Event()

    class StopAfterTwoPages(Reporter):
        """SIGTERM, as the daemon's handler sets it, once two pages are in hand."""

        pages = 0

        def advance(self, stage: str, n: int = 1) -> None:
            if stage == "pages":
                self.pages += n
                if self.pages == 2:
                    stop.set()

    started = time.monotonic()
    summary = run_cycle(services, reporter=StopAfterTwoPages(), cancel=stop)
    assert time.monotonic() - started < 20  # a bounded grace, not the slow pages' minute
    assert summary.interrupted and summary.articles_new == 2
    with services.warehouse.connect(read_only=True) as db:
        titles = sorted(r[0] for r in db.rows("SELECT title FROM articles WHERE source = 'feed'"))
        next_poll = db.scalar("SELECT next_poll_at FROM feeds")
    assert titles == ["Story 0", "Story 1"]
    assert next_poll <= datetime.now(UTC)  # due at the next start, not an interval later

    # The next start: the feed is due, and what was left is stored, each article once.
    for i in (2, 3):
        loopback.routes[f"/p/{i}.html"].delay_s = 0
    assert run_cycle(services).articles_new == 2
    with services.warehouse.connect(read_only=True) as db:
        assert (
            db.scalar("SELECT count(DISTINCT canonical_url) FROM articles WHERE source = 'feed'")
            == 4
        )
        assert db.scalar("SELECT count(*) FROM articles WHERE source = 'feed'") == 4
