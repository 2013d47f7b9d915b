"""Extraction, canonical URLs and the feed-vs-page rule (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

from pipeline.compose import compose_article
from pipeline.extract import PageExtract, extract_page, looks_like_html
from pipeline.urls import canonical_url, pick_canonical, same_site
from tests.helpers import article_page, paragraphs

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_extracts_article_without_chrome_and_with_metadata():
    html = article_page("Sanctions on a satellite firm", paragraphs("sanctions"),
                        canonical="https://news.example.org/a/1")
    page = extract_page(html.encode(), "https://news.example.org/a/1?utm_source=x")
    assert page is not None and "paragraph 5" in page.text
    assert "Most read" not in page.text and "All rights reserved" not in page.text
    assert page.author == "Jane Reporter" and page.lang == "en"
    assert page.canonical_url == "https://news.example.org/a/1"


def test_declared_charset_is_honoured():
    text = "Pr\u00e9sident fran\u00e7ais " * 40
    html = (f"<html><head><meta charset='iso-8859-1'></head><body><article><p>{text}</p>"
            f"<p>{text}</p></article></body></html>").encode("iso-8859-1")
    page = extract_page(html, "http://x.org/a")
    assert page is not None and "Pr\u00e9sident fran\u00e7ais" in page.text


def test_page_without_article_text():
    assert extract_page(b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
                        "http://x.org/") is None


def test_looks_like_html():
    assert looks_like_html("text/html", b"")
    assert not looks_like_html("application/pdf", b"%PDF-1.4")
    assert not looks_like_html("text/html", b"%PDF-1.4 mislabelled")
    assert looks_like_html(None, b"<!DOCTYPE html><html><body></body></html>")
    assert not looks_like_html("image/png", b"\x89PNG")


def test_canonical_urls():
    assert canonical_url("HTTPS://News.Example.ORG:443/a/b?utm_source=rss&id=3&fbclid=x"
                         "&gclid=y#comments") == "https://news.example.org/a/b?id=3"
    assert canonical_url("http://example.org:80/x") == "http://example.org/x"
    assert canonical_url("http://example.org:8080/x") == "http://example.org:8080/x"
    assert same_site("https://www.bbc.co.uk/a", "https://bbc.co.uk/b")
    assert not same_site("https://bbc.co.uk/a", "https://evil.example/b")
    # rel=canonical is honoured on the same site only.
    assert pick_canonical("https://a.example.org/x?utm_medium=rss", "/y") == \
        "https://a.example.org/y"
    assert pick_canonical("https://a.example.org/x", "https://other.example/y") == \
        "https://a.example.org/x"
    # A front page named as every article's canonical would merge them all: ignored.
    assert pick_canonical("https://a.example.org/news/x", "https://a.example.org/") == \
        "https://a.example.org/news/x"
    assert pick_canonical("https://a.example.org/?p=1", "/") == "https://a.example.org/?p=1"
    assert pick_canonical("https://a.example.org/", "https://www.a.example.org/") == \
        "https://www.a.example.org/"


def compose(page, problem=None, feed_text="Feed summary text.", feed_published=None):
    return compose_article(feed_title="Feed title", feed_text=feed_text, feed_author="Feed Author",
                           feed_published=feed_published, fetched_at=NOW, page=page,
                           page_problem=problem)


def test_compose_rule():
    page = PageExtract(text="Page text " * 50, title="Page title | Site", author="Page Author",
                       published_at=datetime(2026, 11, 20, tzinfo=timezone.utc), lang="en",
                       site_name="Site")
    c = compose(page)
    assert (c.text_source, c.title, c.author, c.lang) == ("page", "Feed title", "Page Author", "en")
    assert c.published_at == datetime(2026, 11, 20, tzinfo=timezone.utc)  # page date: feed had none
    fed = datetime(2026, 11, 21, tzinfo=timezone.utc)
    assert compose(page, feed_published=fed).published_at == fed       # feed date first
    c = compose(None, "robots_disallowed")
    assert (c.text_source, c.reason, c.published_at) == ("feed", "robots_disallowed", NOW)
    long_feed = "Full text from the feed. " * 100
    c = compose(page, feed_text=long_feed)
    assert c.text_source == "feed" and "shorter than the feed" in c.reason
