"""The ingest cycle end to end on a loopback site: pages vs feed text, canonical URLs, robots.txt,
a PDF link, private addresses, idempotency, batches, and a crash in the middle of a cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pipeline.ingest import run_cycle
from tests.helpers import article_page, make_pipeline, paragraphs, write_feeds
from tests.server import rss


@pytest.fixture
def site(loopback):
    """A news site: a summary-only feed, a full-content feed, pages, robots.txt, a PDF."""
    loopback.route("/robots.txt", "User-agent: *\nDisallow: /members/\n",
                   content_type="text/plain")
    summary_items, full_items = [], []
    for i, topic in enumerate(["Treasury sanctions a satellite imagery firm",
                               "Counter-espionage officials describe a space-sector case",
                               "A weather satellite reaches orbit"]):
        path = f"/news/{i}.html"
        canonical = f"/news/{i}-canonical.html" if i == 0 else None
        loopback.route(path, article_page(topic, paragraphs(topic),
                                          canonical=loopback.url(canonical) if canonical else None))
        summary_items.append({"title": topic, "link": loopback.url(path) + "?utm_source=rss&fbclid=x",
                              "guid": f"s{i}", "description": f"{topic}. First sentence only."})
    loopback.route("/members/secret.html", article_page("Members only", paragraphs("secret")))
    summary_items.append({"title": "Members only story", "link": loopback.url("/members/secret.html"),
                          "guid": "s-members", "description": "Teaser of the members story."})
    loopback.route("/report.pdf", b"%PDF-1.4 binary", content_type="application/pdf")
    summary_items.append({"title": "The annual report", "link": loopback.url("/report.pdf"),
                          "guid": "s-pdf", "description": "The report as a PDF."})
    full_text = " ".join(paragraphs("Full content feed article about export controls", 8))
    loopback.route("/thin.html", "<html><body><article><p>Subscribe to read the full story on "
                   "export controls, with analysis from our reporters.</p></article></body></html>")
    full_items.append({"title": "Export controls tightened", "link": loopback.url("/thin.html"),
                       "guid": "f0", "content": f"<p>{full_text}</p>",
                       "description": "Short teaser."})
    loopback.route("/summary.xml", rss(summary_items), content_type="application/rss+xml",
                   etag='"s1"')
    loopback.route("/full.xml", rss(full_items), content_type="application/rss+xml")
    return loopback


@pytest.fixture
def pipe(make_settings, fake_embedder):
    return make_pipeline(make_settings(), fake_embedder)


def stored(pipe):
    with pipe.warehouse.connect(read_only=True) as db:
        return {r["title"]: r for r in db.dicts(
            "SELECT * FROM articles WHERE source = 'feed' ORDER BY id")}


def test_cycle_stores_pages_and_falls_back_to_feed_text(pipe, site):
    write_feeds(pipe.settings, [site.url("/summary.xml"), site.url("/full.xml")])
    summary = run_cycle(pipe)
    assert summary.feeds_polled == 2 and summary.articles_new == 6
    rows = stored(pipe)
    assert summary.from_page == 3 and summary.from_feed == 3, \
        {t: (r["text_source"], r["text_source_reason"]) for t, r in rows.items()}
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
    with pipe.warehouse.connect(read_only=True) as db:
        orphans = db.scalar("SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM "
                            "embeddings e WHERE e.article_id = a.id)")
        entries = db.scalar("SELECT count(*) FROM feed_entries")
    assert orphans == 0 and entries == 6


def test_second_cycle_fetches_no_page_and_stores_nothing(pipe, site):
    write_feeds(pipe.settings, [site.url("/summary.xml"), site.url("/full.xml")])
    run_cycle(pipe)
    site.reset_log()
    again = run_cycle(pipe, feeds=[site.url("/summary.xml"), site.url("/full.xml")])
    assert again.articles_new == 0 and again.new_entries == 0
    fetched = [path for _, path, _ in site.log]
    assert sorted(fetched) == ["/full.xml", "/summary.xml"]
    assert len(stored(pipe)) == 6


def test_same_article_in_two_feeds_is_fetched_once(pipe, site):
    site.route("/copy.xml", rss([{"title": "Same story elsewhere",
                                  "link": site.url("/news/2.html?utm_medium=social"),
                                  "guid": "other-guid"}]), content_type="application/rss+xml")
    write_feeds(pipe.settings, [site.url("/summary.xml"), site.url("/copy.xml")])
    summary = run_cycle(pipe)
    assert len(site.hits("/news/2.html")) == 1 and summary.known_urls == 1
    with pipe.warehouse.connect(read_only=True) as db:
        ids = db.rows("SELECT feed_id, article_id FROM feed_entries WHERE canonical_url = ?",
                      [site.url("/news/2.html")])
    assert len(ids) == 2 and len({a for _, a in ids}) == 1


def test_entry_links_to_private_addresses_are_not_fetched(make_settings, fake_embedder,
                                                          loopback, tmp_path):
    settings = make_settings("[http]\nallow_private_networks = false\nper_host_delay_s = 0.0\n")
    pipe = make_pipeline(settings, fake_embedder)
    loopback.route("/inner.html", article_page("Inner", paragraphs("inner")))
    feed = tmp_path / "local-feed.xml"  # a local file: its links get no private-address pass
    feed.write_text(rss([
        {"title": "Points inward", "link": loopback.url("/inner.html"), "guid": "1",
         "description": "Inward teaser."},
        {"title": "Points at a file", "link": "file:///etc/passwd", "guid": "2",
         "description": "File teaser."}]))
    write_feeds(settings, [str(feed)])
    summary = run_cycle(pipe)
    assert summary.articles_new == 2 and summary.from_feed == 2
    assert not loopback.hits("/inner.html")
    rows = stored(pipe)
    assert rows["Points inward"]["text_source_reason"].startswith("fetch_failed: blocked")
    assert rows["Points at a file"]["text_source_reason"] == "no_link"
    assert "root:" not in rows["Points at a file"]["text"]


def test_small_batches_each_commit(make_settings, fake_embedder, site):
    settings = make_settings("[ingest]\nbatch_size = 2\n")
    pipe = make_pipeline(settings, fake_embedder)
    write_feeds(settings, [site.url("/summary.xml"), site.url("/full.xml")])
    assert run_cycle(pipe).articles_new == 6
    with pipe.warehouse.connect(read_only=True) as db:
        ids = [r[0] for r in db.rows("SELECT id FROM articles WHERE source = 'feed' ORDER BY id")]
    assert len(ids) == len(set(ids)) == 6


CRASH_SCRIPT = textwrap.dedent("""
    import sys, time
    from pipeline.settings import load_settings
    from pipeline.ingest import Pipeline, run_cycle
    from pipeline import ingest
    from tests.fakes import FakeEmbedder

    pipe = Pipeline(load_settings(sys.argv[1], env={}), embedder=FakeEmbedder())
    original = ingest._Cycle._write
    calls = {"n": 0}

    def slow_write(self, *args):
        calls["n"] += 1
        ok = original(self, *args)
        if calls["n"] == 2:  # one batch stored, the next in flight: wait to be killed
            print("stored one batch", flush=True)
            time.sleep(60)
        return ok

    ingest._Cycle._write = slow_write
    run_cycle(pipe)
""")


def test_sigkill_mid_cycle_leaves_no_partial_article(make_settings, fake_embedder, loopback,
                                                      tmp_path):
    settings = make_settings("[ingest]\nbatch_size = 2\n")
    pipe = make_pipeline(settings, fake_embedder)
    items = []
    for i in range(8):
        loopback.route(f"/a/{i}.html", article_page(f"Story {i}", paragraphs(f"story {i}")))
        items.append({"title": f"Story {i}", "link": loopback.url(f"/a/{i}.html"),
                      "guid": f"g{i}", "description": f"Story {i} teaser."})
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml", etag='"e1"')
    write_feeds(settings, [loopback.url("/feed.xml")])
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, settings.source],
                            stdout=subprocess.PIPE, text=True, cwd=str(tmp_path.parent.parent),
                            env={**os.environ, "PYTHONPATH": str(__import__("tests").__path__[0]
                                                                  ).rsplit("/tests", 1)[0]})
    try:
        line = proc.stdout.readline()
        assert "stored one batch" in line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with pipe.warehouse.connect(read_only=True) as db:
        partial = db.scalar(
            "SELECT count(*) FROM articles a WHERE a.source = 'feed' AND (NOT EXISTS (SELECT 1 "
            "FROM embeddings e WHERE e.article_id = a.id) OR NOT EXISTS (SELECT 1 FROM "
            "feed_entries f WHERE f.article_id = a.id))")
        before = db.scalar("SELECT count(*) FROM articles WHERE source = 'feed'")
        etag = db.scalar("SELECT etag FROM feeds")
    assert partial == 0 and 2 <= before < 8
    assert etag is None  # the feed's state was not advanced past unstored entries
    pipe.reset()
    summary = run_cycle(pipe)
    with pipe.warehouse.connect(read_only=True) as db:
        titles = [r[0] for r in db.rows("SELECT title FROM articles WHERE source = 'feed'")]
    assert sorted(titles) == sorted(f"Story {i}" for i in range(8))
    assert summary.articles_new == 8 - before
