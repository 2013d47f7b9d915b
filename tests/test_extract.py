"""Extraction, canonical URLs and the feed-vs-page rule (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.extract.article import PageExtract, detect_language, extract_page, looks_like_html
from pipeline.extract.compose import compose_article
from pipeline.net.urls import canonical_url, pick_canonical, same_site
from tests.helpers import article_page, paragraphs

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_extracts_article_without_chrome_and_with_metadata():
    html = article_page(
        "Sanctions on a satellite firm",
        paragraphs("sanctions"),
        canonical="https://news.example.org/a/1",
    )
    page = extract_page(html.encode(), "https://news.example.org/a/1?utm_source=x")
    assert page is not None and "paragraph 5" in page.text
    assert "Most read" not in page.text and "All rights reserved" not in page.text
    assert page.author == "Jane Reporter" and page.lang == "en"
    assert page.canonical_url == "https://news.example.org/a/1"


def test_declared_charset_is_honoured():
    text = "Pr\u00e9sident fran\u00e7ais " * 40
    html = (
        f"<html><head><meta charset='iso-8859-1'></head><body><article><p>{text}</p>"
        f"<p>{text}</p></article></body></html>"
    ).encode("iso-8859-1")
    page = extract_page(html, "http://x.org/a")
    assert page is not None and "Pr\u00e9sident fran\u00e7ais" in page.text


def test_page_without_article_text():
    assert (
        extract_page(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "http://x.org/")
        is None
    )


def test_looks_like_html():
    assert looks_like_html("text/html", b"")
    assert not looks_like_html("application/pdf", b"%PDF-1.4")
    assert not looks_like_html("text/html", b"%PDF-1.4 mislabelled")
    assert looks_like_html(None, b"<!DOCTYPE html><html><body></body></html>")
    assert not looks_like_html("image/png", b"\x89PNG")


def test_canonical_urls():
    assert (
        canonical_url(
            "HTTPS://News.Example.ORG:443/a/b?utm_source=rss&id=3&fbclid=x&gclid=y#comments"
        )
        == "https://news.example.org/a/b?id=3"
    )
    assert canonical_url("http://example.org:80/x") == "http://example.org/x"
    assert canonical_url("http://example.org:8080/x") == "http://example.org:8080/x"
    assert same_site("https://www.bbc.co.uk/a", "https://bbc.co.uk/b")
    assert not same_site("https://bbc.co.uk/a", "https://evil.example/b")
    # rel=canonical is honoured on the same site only.
    assert (
        pick_canonical("https://a.example.org/x?utm_medium=rss", "/y") == "https://a.example.org/y"
    )
    assert (
        pick_canonical("https://a.example.org/x", "https://other.example/y")
        == "https://a.example.org/x"
    )
    # A front page named as every article's canonical would merge them all: ignored.
    assert (
        pick_canonical("https://a.example.org/news/x", "https://a.example.org/")
        == "https://a.example.org/news/x"
    )
    assert pick_canonical("https://a.example.org/?p=1", "/") == "https://a.example.org/?p=1"
    assert (
        pick_canonical("https://a.example.org/", "https://www.a.example.org/")
        == "https://www.a.example.org/"
    )


def compose(page, problem=None, feed_text="Feed summary text.", feed_published=None):
    return compose_article(
        feed_title="Feed title",
        feed_text=feed_text,
        feed_author="Feed Author",
        feed_published=feed_published,
        fetched_at=NOW,
        page=page,
        page_problem=problem,
    )


def test_compose_rule():
    page = PageExtract(
        text="Page text " * 50,
        title="Page title | Site",
        author="Page Author",
        published_at=datetime(2026, 11, 20, tzinfo=UTC),
        lang="en",
        site_name="Site",
    )
    c = compose(page)
    assert (c.text_source, c.title, c.author, c.lang) == ("page", "Feed title", "Page Author", "en")
    assert c.published_at == datetime(2026, 11, 20, tzinfo=UTC)  # page date: feed had none
    fed = datetime(2026, 11, 21, tzinfo=UTC)
    assert compose(page, feed_published=fed).published_at == fed  # feed date first
    c = compose(None, "robots_disallowed")
    assert (c.text_source, c.reason, c.published_at) == ("feed", "robots_disallowed", NOW)
    long_feed = "Full text from the feed. " * 100
    c = compose(page, feed_text=long_feed)
    assert c.text_source == "feed" and "shorter than the feed" in c.reason


def test_a_body_split_around_ads_is_extracted_whole():
    first = "".join(
        f"<p>First part sentence {i} of the report on export controls.</p>" for i in range(6)
    )
    second = "".join(
        f"<p>Second part sentence {i} after the advertisement block.</p>" for i in range(6)
    )
    html = (
        f"<html><head><title>Split</title></head><body><div class='article__body'>{first}"
        f"</div><div class='ad'>Advertisement</div><div class='article__body'>{second}</div>"
        f"</body></html>"
    )
    page = extract_page(html.encode(), "https://news.example.org/split")
    assert page is not None
    assert "First part sentence 5" in page.text and "Second part sentence 5" in page.text


def test_detected_language_beats_a_wrong_declaration():
    german = (
        "Die Bundesregierung hat am Montag neue Sanktionen gegen mehrere Unternehmen "
        "verhängt, die Satellitenbilder an die russische Armee geliefert haben sollen. "
    ) * 4
    html = article_page("Sanktionen", [german, german], lang="en")
    page = extract_page(html.encode(), "https://news.example.de/a")
    assert page is not None and page.lang == "de"
    assert detect_language("Too short to say.") is None


def test_header_charset_is_honoured_over_guessing():
    text = "Санкции против компании, поставлявшей спутниковые снимки. " * 20
    html = f"<html><body><article><p>{text}</p><p>{text}</p></article></body></html>"
    page = extract_page(
        html.encode("windows-1251"), "http://x.ru/a", content_type="text/html; charset=windows-1251"
    )
    assert page is not None and "спутниковые снимки" in page.text and page.lang == "ru"


def test_relative_canonical_resolves_against_base_href():
    html = (
        "<html><head><base href='https://news.example.org/world/'>"
        "<link rel='Canonical Alternate' href='story-1'></head><body><article>"
        + "".join(f"<p>Paragraph {i} of the world story with enough words.</p>" for i in range(6))
        + "</article></body></html>"
    )
    page = extract_page(html.encode(), "https://news.example.org/x?utm_source=rss")
    assert page is not None and page.canonical_url == "https://news.example.org/world/story-1"


def test_binary_bodies_are_not_html_whatever_they_claim():
    assert not looks_like_html("text/html", b"PK\x03\x04zipped")
    assert not looks_like_html("text/html", b"\x1f\x8b\x08gzip")
    assert not looks_like_html("application/json", b"<html>")
    assert looks_like_html("text/xml", b"<html><body><p>x</p></body></html>")


def test_feed_text_gets_a_detected_language():
    russian = (
        "Министерство финансов США ввело санкции против компании, которая поставляла "
        "спутниковые снимки частной военной компании. " * 3
    )
    c = compose_article(
        feed_title="Санкции",
        feed_text=russian,
        feed_author=None,
        feed_published=None,
        fetched_at=NOW,
        page=None,
        page_problem="no_link",
    )
    assert c.lang == "ru"
