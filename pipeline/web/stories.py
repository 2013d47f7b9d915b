"""`/stories/{id}`: every report of one story, originals with their copies folded beneath, its
timeline, entities, topics with their evidence and merges; a merged story id redirects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.store import reading
from pipeline.web.chart import Bucket, buckets, timeline_svg
from pipeline.web.evidence import story_why
from pipeline.web.params import path_id
from pipeline.web.render import Pages
from pipeline.web.site import Site


@dataclass(frozen=True)
class Report:
    """One report of a story, with the copies of it folded beneath."""

    id: int
    kind: str  # 'feed' or 'seed'
    title: str
    url: str | None
    source: str
    lang: str | None
    published_at: datetime | None
    fetched_at: datetime
    why: str  # how it joined the story
    duplicate_kind: str | None = None
    duplicate_similarity: float | None = None
    copies: tuple[Report, ...] = ()


@dataclass(frozen=True)
class TopicEvidence:
    """A topic of the story: its best score, how many reports carry it, and why."""

    topic: str
    label: str
    score: float
    reports: int
    article_id: int
    matched_terms: tuple[str, ...]
    passage: str


@dataclass(frozen=True)
class StoryPage:
    """Everything the story page shows."""

    story_id: int
    title: str
    reports: int
    originals: int
    sources: tuple[str, ...]
    languages: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    items: tuple[Report, ...]
    timeline_unit: str
    timeline: tuple[Bucket, ...]
    entities: Mapping[str, int]
    topics: tuple[TopicEvidence, ...]
    merges: tuple[Mapping[str, Any], ...]


def fold(members: Sequence[Mapping[str, Any]]) -> tuple[Report, ...]:
    """Originals in order, each with its copies beneath (a copy whose original is not a member
    stands on its own)."""
    ids = {int(m["id"]) for m in members}
    copies: dict[int, list[Report]] = {}
    top: list[Mapping[str, Any]] = []
    for m in members:
        original = m["duplicate_of"]
        if original is not None and int(original) in ids:
            copies.setdefault(int(original), []).append(_report(m, ()))
        else:
            top.append(m)
    return tuple(_report(m, tuple(copies.get(int(m["id"]), ()))) for m in top)


def _report(m: Mapping[str, Any], copies: tuple[Report, ...]) -> Report:
    return Report(
        id=int(m["id"]),
        kind=str(m["kind"]),
        title=str(m["title"] or ""),
        url=m["url"],
        source=str(m["source"] or ""),
        lang=m["lang"],
        published_at=m["published_at"],
        fetched_at=m["fetched_at"],
        why=story_why(m["story_evidence"]),
        duplicate_kind=m["duplicate_kind"],
        duplicate_similarity=m["duplicate_similarity"],
        copies=copies,
    )


def story_page(site: Site, story_id: int) -> StoryPage | int | None:
    """The story's page; the id it now lives under when it was merged; None when unknown."""
    labels = site.topic_labels()
    with site.read() as db:
        current = reading.current_story(db, story_id)
        if current is None or current != story_id:
            return current
        members = reading.story_members(db, story_id)
        entities = reading.story_entities(db, [story_id]).get(story_id, {})
        tags = reading.story_tag_evidence(db, story_id)
        merges = reading.merges_into(db, story_id)
    if not members:
        return None
    originals = [m for m in members if m["duplicate_of"] is None]
    lead = originals[0] if originals else members[0]
    unit, points = buckets([m["fetched_at"] for m in members])
    return StoryPage(
        story_id=story_id,
        title=str(lead["title"] or ""),
        reports=len(members),
        originals=len(originals),
        sources=tuple(dict.fromkeys(str(m["source"]) for m in members)),
        languages=tuple(sorted({m["lang"] for m in members if m["lang"]})),
        first_seen=min(m["fetched_at"] for m in members),
        last_seen=max(m["fetched_at"] for m in members),
        items=fold(members),
        timeline_unit=unit,
        timeline=tuple(points),
        entities=entities,
        topics=tuple(
            TopicEvidence(
                topic=t["topic"],
                label=labels.get(t["topic"], t["topic"]),
                score=float(t["score"]),
                reports=int(t["reports"]),
                article_id=int(t["article_id"]),
                matched_terms=tuple(t["matched_terms"] or ()),
                passage=str(t["passage"] or ""),
            )
            for t in tags
        ),
        merges=tuple(merges),
    )


def chart(page: StoryPage) -> Markup:
    """The story's timeline as inline SVG."""
    return timeline_svg(page.timeline_unit, page.timeline)


def show(site: Site, pages: Pages, request: Request) -> Response:
    """GET /stories/{id} (and .json)."""
    story_id = path_id(request, "story_id")
    found, as_of = site.page(request, lambda: story_page(site, story_id))
    if found is None:
        return pages.error(request, 404, f"no story {story_id}")
    if isinstance(found, int):
        suffix = ".json" if request.url.path.endswith(".json") else ""
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/stories/{found}{suffix}{query}", status_code=301)
    return pages.render(
        request,
        "story.html",
        found,
        title=found.title or f"Story {story_id}",
        chart=chart(found),
        as_of=as_of,
    )
