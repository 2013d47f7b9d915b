"""`/articles/{id}`: the stored text (as text), its source and link, language, what it copies
and what copies it, each topic with its evidence, watchlist mentions marked in the text, its
story and why it is in it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pipeline.app.explain import story_lines
from pipeline.store import marks as mark_store
from pipeline.store import reading
from pipeline.store import stories as stories_store
from pipeline.web.evidence import topic_why
from pipeline.web.params import path_id
from pipeline.web.render import Pages
from pipeline.web.site import Site


@dataclass(frozen=True)
class Tag:
    """A stored topic of the article with its evidence."""

    topic: str
    label: str
    score: float
    matched_terms: tuple[str, ...]
    passage: str
    why: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Mention:
    """A watchlist entity the article names."""

    entity: str
    mentions: int
    aliases: tuple[str, ...]
    evidence: str


@dataclass(frozen=True)
class ArticlePage:
    """Everything the article page shows."""

    id: int
    kind: str
    title: str
    url: str | None
    canonical_url: str | None
    source: str
    feed_id: int | None
    feed_title: str | None
    author: str | None
    lang: str | None
    published_at: datetime | None
    fetched_at: datetime
    text: str
    text_source: str
    word_count: int
    relevance: float
    on_topic: bool
    story_id: int
    story: tuple[str, ...]  # why it is in its story, in lines
    duplicate_of: Mapping[str, Any] | None
    copies: tuple[Mapping[str, Any], ...]
    tags: tuple[Tag, ...]
    mentions: tuple[Mention, ...]
    marks: tuple[tuple[int, int], ...]  # spans of watchlist mentions in the text
    topics: Mapping[str, str]  # every configured topic, for the mark buttons
    topic_marks: Mapping[str, bool]  # the analyst's marks in force: topic -> about it or not
    off_theme: bool  # marked off the theme


def _tag(row: Mapping[str, Any], labels: Mapping[str, str]) -> Tag:
    return Tag(
        topic=row["topic"],
        label=labels.get(row["topic"], row["topic"]),
        score=float(row["score"]),
        matched_terms=tuple(row["matched_terms"] or ()),
        passage=str(row["passage"] or ""),
        why=topic_why(row["evidence"]),
        evidence=row["evidence"],
    )


def _mention(row: Mapping[str, Any]) -> Mention:
    return Mention(
        entity=row["entity"],
        mentions=int(row["mentions"]),
        aliases=tuple(row["aliases"] or ()),
        evidence=str(row["evidence"] or ""),
    )


def article_page(site: Site, article_id: int) -> ArticlePage | None:
    """The article's page, or None when there is no such article."""
    labels = site.topic_labels()
    with site.read() as db:
        row = reading.article(db, article_id)
        if row is None:
            return None
        copies = reading.copies_of(db, article_id)
        tags = reading.article_tags(db, article_id)
        mentions = reading.article_mentions(db, article_id)
        story = stories_store.story_rows(db, article_id)
        original = row["duplicate_of"]
        original_title = reading.titles(db, [int(original)]) if original is not None else {}
        in_force = mark_store.of_articles(db, [article_id]).get(article_id, [])
    spans = tuple((start, end) for _, start, end, _ in site.watchlist().find(row["text"]))
    return ArticlePage(
        id=int(row["id"]),
        kind=str(row["kind"]),
        title=str(row["title"] or ""),
        url=row["url"],
        canonical_url=row["canonical_url"],
        source=str(row["source"] or ""),
        feed_id=row["feed_id"],
        feed_title=row["feed_title"],
        author=row["author"],
        lang=row["lang"],
        published_at=row["published_at"],
        fetched_at=row["fetched_at"],
        text=str(row["text"]),
        text_source=str(row["text_source"]),
        word_count=int(row["word_count"]),
        relevance=float(row["relevance"]),
        on_topic=bool(row["on_topic"]),
        story_id=int(row["story_id"]),
        story=tuple(story_lines(story)),
        duplicate_of=(
            {
                "id": int(original),
                "title": original_title.get(int(original), ""),
                "kind": row["duplicate_kind"],
                "similarity": row["duplicate_similarity"],
            }
            if original is not None
            else None
        ),
        copies=tuple(copies),
        tags=tuple(_tag(t, labels) for t in tags),
        mentions=tuple(_mention(m) for m in mentions),
        marks=spans,
        topics=labels,
        topic_marks={m["topic"]: bool(m["value"]) for m in in_force if m["kind"] == "topic"},
        off_theme=any(m["kind"] == "off_theme" for m in in_force),
    )


def show(site: Site, pages: Pages, request: Request) -> Response:
    """GET /articles/{id} (and .json)."""
    article_id = path_id(request, "article_id")
    found, as_of = site.page(request, lambda: article_page(site, article_id))
    if found is None:
        return pages.error(request, 404, f"no article {article_id}")
    return pages.render(
        request, "article.html", found, title=found.title or f"Article {article_id}", as_of=as_of
    )
