"""`/entities` and `/entities/{name}`: the watchlist's entities, mentions per week, latest
stories."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from pipeline.store import entities as entity_store
from pipeline.store import reading
from pipeline.web.render import Pages
from pipeline.web.site import Site

#: Weeks of mentions the pages chart.
WEEKS = 12


@dataclass(frozen=True)
class EntityRow:
    """One entity of the watchlist with its counts over the last weeks."""

    name: str
    kind: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    articles: int
    stories: int
    mentions: int
    last_seen: datetime | None
    weeks: Mapping[str, int]


@dataclass(frozen=True)
class EntitiesPage:
    """Every entity of the watchlist."""

    since: datetime
    weeks: tuple[str, ...]
    entities: tuple[EntityRow, ...]


@dataclass(frozen=True)
class EntityPage:
    """One entity: its counts, mentions per week, latest stories and mentions."""

    entity: EntityRow
    weeks: tuple[str, ...]
    note: str
    stories: tuple[Mapping[str, Any], ...]
    mentions: tuple[Mapping[str, Any], ...]


def week_labels(now: datetime, count: int = WEEKS) -> tuple[str, ...]:
    """The ISO week labels of the last `count` weeks, oldest first (week 53 included)."""
    out = []
    for k in range(count - 1, -1, -1):
        iso = (now - timedelta(weeks=k)).isocalendar()
        out.append(f"{iso.year}-W{iso.week:02d}")
    return tuple(out)


def _row(entity: Any, counts: Mapping[str, Any], weeks: Mapping[str, int]) -> EntityRow:
    return EntityRow(
        name=entity.name,
        kind=entity.kind,
        aliases=tuple(entity.aliases),
        tags=tuple(entity.tags),
        articles=int(counts.get("articles") or 0),
        stories=int(counts.get("stories") or 0),
        mentions=int(counts.get("mentions") or 0),
        last_seen=counts.get("last_seen"),
        weeks=dict(weeks),
    )


def entities_page(site: Site) -> EntitiesPage:
    """Every entity with its counts over the last weeks."""
    now = site.clock()
    since = now - timedelta(weeks=WEEKS)
    watchlist = site.watchlist()
    with site.read() as db:
        counts = entity_store.entity_counts(db, since)
        weeks = reading.entity_weeks(db, None, since)
    return EntitiesPage(
        since=since,
        weeks=week_labels(now),
        entities=tuple(
            _row(e, counts.get(e.name, {}), weeks.get(e.name, {})) for e in watchlist.entities
        ),
    )


def entity_page(site: Site, name: str) -> EntityPage | None:
    """One entity's page, or None when the watchlist has no such entity."""
    entity = site.watchlist().entity(name)
    if entity is None:
        return None
    now = site.clock()
    since = now - timedelta(weeks=WEEKS)
    with site.read() as db:
        counts = entity_store.entity_counts(db, since).get(name, {})
        weeks = reading.entity_weeks(db, name, since).get(name, {})
        stories = reading.entity_stories(db, name, site.settings.web.max_stories)
        mentions = entity_store.mentions_of(db, name, 20)
    return EntityPage(
        entity=_row(entity, counts, weeks),
        weeks=week_labels(now),
        note=entity.note,
        stories=tuple(stories),
        mentions=tuple(mentions),
    )


def index(site: Site, pages: Pages, request: Request) -> Response:
    """GET /entities (and .json)."""
    found, as_of = site.page(request, lambda: entities_page(site))
    return pages.render(request, "entities.html", found, title="Entities", as_of=as_of)


def show(site: Site, pages: Pages, request: Request) -> Response:
    """GET /entities/{name} (and .json)."""
    raw = str(request.path_params["name"])
    name = unquote(raw.removesuffix(".json") if raw.endswith(".json") else raw)
    found, as_of = site.page(request, lambda: entity_page(site, name))
    if found is None:
        return pages.error(request, 404, f"no watchlist entity named {name!r}")
    return pages.render(request, "entity.html", found, title=name, as_of=as_of)
