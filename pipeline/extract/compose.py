"""Feed entry + article page → the text and metadata stored (pure). The rule:

- text: the page's extracted text, unless there is no usable page (not fetched, not HTML,
  disallowed by robots.txt, no article text: `page_problem` says why) or the page yields fewer
  words than the feed itself carries (full-content feeds often beat a paywalled or script-built
  page); then the feed's own text (the longer of content:encoded and summary), text_source
  'feed', and the reason recorded.
- title: the feed's title (what the publisher chose for listings, free of "| Site" suffixes),
  else the page's.
- published_at: the feed's date when the entry had one, else the page's, else the fetch time.
- author: the page's byline, else the feed's.
- lang: the page's, else detected from the text kept (py3langid; None when unsure).
- site_name, description: the page's; description falls back to the feed's summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.extract.article import PageExtract, detect_language
from pipeline.textnorm import UNSPACED_SCRIPT, length_in_words, word_count


@dataclass(frozen=True)
class ComposedArticle:
    """The values stored for one article, and why its text comes from where it does."""

    title: str
    text: str
    text_source: str  # 'page' | 'feed'
    reason: str
    author: str | None
    published_at: datetime
    lang: str | None
    site_name: str | None
    description: str | None


def compose_article(
    *,
    feed_title: str,
    feed_text: str,
    feed_author: str | None,
    feed_published: datetime | None,
    fetched_at: datetime,
    page: PageExtract | None,
    page_problem: str | None,
) -> ComposedArticle:
    """Choose text and metadata between the feed entry and the page (see the module rule)."""
    feed_words = _words(feed_text)
    if page is not None:
        page_words = _words(page.text)
        if page_words >= feed_words:
            text, source = page.text, "page"
            reason = f"page text ({page_words} words; feed had {feed_words})"
        else:
            text, source = feed_text, "feed"
            reason = f"page text shorter than the feed's ({page_words} < {feed_words} words)"
    else:
        text, source = feed_text, "feed"
        reason = page_problem or "no page"
    published = feed_published or (page.published_at if page else None) or fetched_at
    summary = " ".join(feed_text.split()[:60]) if feed_text else None
    return ComposedArticle(
        title=(feed_title or "").strip() or (page.title if page and page.title else ""),
        text=text,
        text_source=source,
        reason=reason,
        author=(page.author if page and page.author else None) or feed_author,
        published_at=published,
        lang=(page.lang if page and page.lang else None) or detect_language(text),
        site_name=page.site_name if page else None,
        description=(page.description if page and page.description else None) or summary,
    )


def _words(text: str) -> int:
    """A text's length in words: its word tokens, or, in a script written without spaces
    (Chinese, Japanese, Thai), the words its characters make."""
    return length_in_words(text) if UNSPACED_SCRIPT.search(text) else word_count(text)
