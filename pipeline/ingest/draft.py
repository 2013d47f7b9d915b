"""A feed entry and what became of its page → the article to store (pure functions)."""

from __future__ import annotations

from datetime import datetime

from pipeline.extract.compose import compose_article
from pipeline.extract.pages import PageResult
from pipeline.models import ArticleDraft, FeedEntry, FeedState
from pipeline.net.urls import canonical_url, pick_canonical


def entry_canonical(link: str | None) -> str | None:
    """The canonical form of an entry's link (a malformed link is kept as it is)."""
    if not link:
        return None
    try:
        return canonical_url(link)
    except Exception:  # courlan raises several kinds on odd input; the link still identifies
        return link


def page_canonical(link: str | None, result: PageResult, fallback: str | None) -> str | None:
    """The canonical URL of an entry once its page is known: the page's own, when it names a
    plausible one, else `fallback` (the entry's)."""
    if result.page is None or not link:
        return fallback
    try:
        return pick_canonical(result.url or link, result.page.canonical_url)
    except Exception:  # an odd canonical link keeps the entry's own URL
        return fallback


def draft_article(
    feed: FeedState, entry: FeedEntry, result: PageResult, canonical: str | None, now: datetime
) -> ArticleDraft:
    """The article of a feed entry: the page's text or the feed's (see compose), its metadata."""
    feed_text = max((entry.content or "", entry.summary or ""), key=len)
    composed = compose_article(
        feed_title=entry.title,
        feed_text=feed_text,
        feed_author=entry.author,
        feed_published=entry.published_at,
        fetched_at=now,
        page=result.page,
        page_problem=result.problem,
    )
    text, reason = composed.text, composed.reason
    title = composed.title or (text.split("\n", 1)[0][:120] if text else "") or "(untitled)"
    if not text.strip():
        text, reason = title, f"{reason}; no text anywhere: title only"
    url = result.url or entry.link or f"{feed.url}#entry={entry.key}"
    return ArticleDraft(
        source="feed",
        feed_id=feed.id,
        url=url,
        canonical_url=canonical,
        guid=entry.guid,
        entry_key=entry.key,
        title=title,
        author=composed.author,
        published_at=composed.published_at,
        lang=composed.lang,
        site_name=composed.site_name,
        description=composed.description,
        text=text,
        text_source=composed.text_source,
        text_source_reason=reason,
        fetched_at=now,
    )
