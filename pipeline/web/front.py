"""`/`: the stories of the last days, grouped by topic as the digest groups them, what is new
and growing first; `/updates.json`: what the open page polls to show new reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pipeline.search.saved import parse_since
from pipeline.store import feeds as feed_store
from pipeline.store import marks as mark_store
from pipeline.store import reading
from pipeline.web.params import BadParameter, int_param, text_param
from pipeline.web.render import Pages
from pipeline.web.site import Site

#: The group of on-theme stories that carry no topic (relevant to the seeds by meaning alone).
UNTOPICAL = ""


@dataclass(frozen=True)
class StoryCard:
    """One story in a list: its lead report and how it grows."""

    story_id: int
    title: str
    url: str | None
    source: str
    lead: str
    lead_id: int | None
    langs: tuple[str, ...]
    reports: int
    originals: int
    sources: int
    recent_sources: int  # distinct outlets in the last `breaking_hours`
    new_reports: int  # reports stored within the page's period
    first_seen: datetime
    last_seen: datetime
    topic: str  # the best-scoring topic: the group it is listed in
    topics: Mapping[str, float] = field(default_factory=dict)
    entities: tuple[str, ...] = ()
    marked: bool | None = None  # the lead's mark for `topic`: about it, not, or none


@dataclass(frozen=True)
class TopicGroup:
    """A topic's stories, as the digest's sections are made."""

    topic: str
    label: str
    stories: tuple[StoryCard, ...]


@dataclass(frozen=True)
class FrontPage:
    """The front page: stories since a time, grouped, with the filters that made them."""

    since: str
    since_at: datetime
    breaking_hours: float
    filters: Mapping[str, Any]
    groups: tuple[TopicGroup, ...]
    stories: int
    latest_id: int
    topics: Mapping[str, str]
    entities: tuple[str, ...]
    languages: tuple[str, ...]
    feeds: tuple[Mapping[str, Any], ...]


def cards(
    rows: Sequence[Mapping[str, Any]],
    leads: Mapping[int, Mapping[str, Any]],
    topics: Mapping[int, Mapping[str, float]],
    entities: Mapping[int, Mapping[str, int]],
    marks: Mapping[tuple[int, str], bool] | None = None,
) -> list[StoryCard]:
    """Story cards from the store's rows (pure)."""
    out = []
    for r in rows:
        sid = int(r["story_id"])
        lead_id = r["lead_id"]
        lead = leads.get(int(lead_id), {}) if lead_id is not None else {}
        scores = dict(topics.get(sid, {}))
        best = max(scores, key=lambda t: scores[t]) if scores else UNTOPICAL
        out.append(
            StoryCard(
                story_id=sid,
                title=str(lead.get("title") or r["first_title"] or ""),
                url=lead.get("url"),
                source=str(lead.get("source") or ""),
                lead=str(lead.get("lead") or ""),
                lead_id=int(lead_id) if lead_id is not None else None,
                langs=tuple(r["langs"] or ()),
                reports=int(r["reports"]),
                originals=int(r["originals"]),
                sources=int(r["sources"]),
                recent_sources=int(r["recent_sources"]),
                new_reports=int(r["new_reports"]),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
                topic=best,
                topics=scores,
                entities=tuple(entities.get(sid, {})),
                marked=(marks or {}).get((int(lead_id), best)) if lead_id is not None else None,
            )
        )
    return out


def rank(stories: Sequence[StoryCard]) -> list[StoryCard]:
    """New and growing first: most outlets in the last hours, then the latest report."""
    return sorted(stories, key=lambda s: (-s.recent_sources, -s.last_seen.timestamp(), -s.story_id))


def group(stories: Sequence[StoryCard], labels: Mapping[str, str]) -> tuple[TopicGroup, ...]:
    """Stories in the sections of their best topic, in the topics file's order; stories without
    a topic last (pure)."""
    by_topic: dict[str, list[StoryCard]] = {}
    for s in rank(stories):
        by_topic.setdefault(s.topic, []).append(s)
    order = [t for t in labels if t in by_topic]
    order += sorted(t for t in by_topic if t not in labels and t != UNTOPICAL)
    if UNTOPICAL in by_topic:
        order.append(UNTOPICAL)
    return tuple(
        TopicGroup(t, labels.get(t, t) if t else "Other stories on the theme", tuple(by_topic[t]))
        for t in order
    )


def front_page(site: Site, request: Request) -> FrontPage:
    """The front page's data for a request's filters (BadParameter for a bad one)."""
    web = site.settings.web
    now = site.clock()
    since = text_param(request, "since") or f"{web.since_days}d"
    try:
        since_at = parse_since(since, now)
    except ValueError as exc:
        raise BadParameter("since", str(exc)) from None
    filters = reading.StoryFilters(
        since=since_at,
        topic=text_param(request, "topic"),
        entity=text_param(request, "entity"),
        lang=text_param(request, "lang"),
        feed=int_param(request, "feed"),
        everything=text_param(request, "all") in ("1", "true", "yes"),
    )
    recent_from = now - timedelta(hours=web.breaking_hours)
    labels = site.topic_labels()
    with site.read() as db:
        rows = reading.recent_stories(db, filters, recent_from, web.max_stories)
        ids = [int(r["story_id"]) for r in rows]
        leads = reading.leads(db, [int(r["lead_id"]) for r in rows if r["lead_id"] is not None])
        # The feed's description stands for the story where there is one; else the text's opening.
        openings = site.openings.of(
            db, {aid: lead["content_hash"] for aid, lead in leads.items() if not lead["lead"]}
        )
        topics = reading.story_topics(db, ids)
        entities = reading.story_entities(db, ids)
        latest, _ = reading.latest_article(db)
        langs = reading.languages(db, since_at)
        feeds = feed_store.feed_states(db)
        marks = mark_store.topic_marks_of(db, list(leads))
    for aid, opening in openings.items():
        leads[aid]["lead"] = opening
    found = cards(rows, leads, topics, entities, marks)
    return FrontPage(
        since=since,
        since_at=since_at,
        breaking_hours=web.breaking_hours,
        filters={
            "topic": filters.topic,
            "entity": filters.entity,
            "lang": filters.lang,
            "feed": filters.feed,
            "all": filters.everything,
        },
        groups=group(found, labels),
        stories=len(found),
        latest_id=latest,
        topics=labels,
        entities=site.watchlist().names,
        languages=tuple(langs),
        feeds=tuple(
            {"id": f["id"], "title": f.get("title") or f["url"]}
            for f in feeds
            if f.get("in_config", True)
        ),
    )


def index(site: Site, pages: Pages, request: Request) -> Response:
    """GET / (and /.json)."""
    found, as_of = site.page(request, lambda: front_page(site, request))
    return pages.render(
        request,
        "index.html",
        found,
        title="Stories",
        as_of=as_of,
        refresh_s=site.settings.web.refresh_s,
    )


def updates(site: Site, pages: Pages, request: Request) -> Response:
    """GET /updates.json?after=ID: the newest article id and how many feed articles came after."""
    after = int_param(request, "after") or 0
    with site.read() as db:
        latest, _ = reading.latest_article(db)
        new = reading.new_since(db, after) if after else 0
    return pages.render(request, "error.html", {"latest_id": latest, "new_articles": new})
