"""From a feed entry and its page to the article stored (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.extract.article import PageExtract
from pipeline.extract.pages import PageResult
from pipeline.ingest.draft import draft_article, entry_canonical, page_canonical
from pipeline.models import FeedEntry, FeedState

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FEED = FeedState(
    id=3, url="http://news.example/feed.xml", config_url="http://news.example/feed.xml"
)


def entry(**kw) -> FeedEntry:
    base = dict(
        key="k1",
        guid="g1",
        link="http://news.example/a?utm_source=rss",
        title="Feed title",
        summary="A short teaser of the story.",
        content="",
        author="Feed Author",
        published_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    base.update(kw)
    return FeedEntry(**base)


def page(text: str, **kw) -> PageExtract:
    return PageExtract(text=text, **kw)


def test_page_text_wins_and_metadata_is_merged():
    result = PageResult(
        "http://news.example/a",
        page(
            "The full article text has many more words than the teaser in the feed does.",
            title="Page title | Site",
            author="Page Author",
            lang="en",
            site_name="Example News",
            canonical_url="http://news.example/a-canonical",
        ),
        None,
    )
    canon = page_canonical(entry().link, result, entry_canonical(entry().link))
    d = draft_article(FEED, entry(), result, canon, NOW)
    assert d.text_source == "page" and d.text.startswith("The full article")
    assert d.title == "Feed title" and d.author == "Page Author" and d.site_name == "Example News"
    assert d.published_at == datetime(2026, 11, 20, tzinfo=UTC)
    assert d.canonical_url == "http://news.example/a-canonical" and d.feed_id == 3
    assert d.entry_key == "k1" and d.fetched_at == NOW


def test_no_page_keeps_the_feed_text_and_says_why():
    result = PageResult("http://news.example/a", None, "robots_disallowed")
    d = draft_article(FEED, entry(), result, entry_canonical(entry().link), NOW)
    assert d.text_source == "feed" and d.text == "A short teaser of the story."
    assert d.text_source_reason == "robots_disallowed"
    assert d.canonical_url == "http://news.example/a"  # tracking parameters dropped


def test_nothing_anywhere_keeps_the_title_and_an_entry_url():
    e = entry(link=None, summary="", content="")
    d = draft_article(FEED, e, PageResult(None, None, "no_link"), None, NOW)
    assert d.text == "Feed title" and "no text anywhere" in d.text_source_reason
    assert d.url == "http://news.example/feed.xml#entry=k1"


def test_an_implausible_page_canonical_keeps_the_entrys_own():
    result = PageResult(
        "http://news.example/a",
        page("Some article text with enough words in it.", canonical_url="http://news.example/"),
        None,
    )
    own = entry_canonical(entry().link)
    assert page_canonical(entry().link, result, own) == own
    assert entry_canonical("http://[broken") == "http://[broken"  # kept, never a crash
    assert entry_canonical(None) is None
