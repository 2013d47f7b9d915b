"""`/search?q=...&topic=&entity=&since=&mode=`: the hybrid search of `newswatch search`, one result
per story, its best passage with the matched words marked; saved searches one click away."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pipeline.errors import ConfigError, SearchError
from pipeline.search.request import prepare_search, query_sources, resolve_search, search_in
from pipeline.search.saved import SavedSearches
from pipeline.search.terms import analyze
from pipeline.web.params import BadParameter, int_param, text_param
from pipeline.web.render import Pages
from pipeline.web.site import Site

_WORD_RE = re.compile(r"\w+", re.UNICODE)
MODES = ("hybrid", "text", "meaning")


@dataclass(frozen=True)
class Result:
    """One story found: its best report, the passage and where the query's words are in it."""

    rank: int
    story_id: int
    reports: int
    matched: int
    article_id: int
    title: str
    site: str
    url: str | None
    published: str | None
    why: str
    passage: str
    marks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SearchPage:
    """A search and its results; the saved searches to pick from."""

    query: str
    filters: Mapping[str, Any]
    results: tuple[Result, ...]
    saved: tuple[Mapping[str, str], ...]
    unindexed: int = 0
    error: str | None = None


def word_marks(passage: str, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Spans of the passage's words that are matched terms in any inflection (pure)."""
    wanted = set(analyze(" ".join(terms)))
    if not wanted:
        return ()
    return tuple(
        (m.start(), m.end()) for m in _WORD_RE.finditer(passage) if wanted & set(analyze(m[0]))
    )


def _saved(site: Site) -> tuple[Mapping[str, str], ...]:
    try:
        found = SavedSearches(site.settings.search).all()
    except ConfigError:
        return ()
    return tuple({"name": s.name, "query": s.query} for s in found)


def search_page(site: Site, request: Request) -> SearchPage:
    """Run the request's search (BadParameter for a bad option)."""
    query = text_param(request, "q")
    saved_name = text_param(request, "saved")
    mode = text_param(request, "mode")
    if mode is not None and mode not in MODES:
        raise BadParameter("mode", f"one of {', '.join(MODES)}")
    filters = {
        "since": text_param(request, "since"),
        "topic": text_param(request, "topic"),
        "entity": text_param(request, "entity"),
        "mode": mode,
    }
    saved = _saved(site)
    if query is None and saved_name is None:
        return SearchPage("", filters, (), saved)
    try:
        spec = resolve_search(
            site.settings,
            query,
            saved=saved_name,
            since=filters["since"],
            topic=filters["topic"],
            entity=filters["entity"],
            limit=int_param(request, "limit", lo=1, hi=200),
            mode=mode,
        )
    except (SearchError, ValueError) as exc:
        return SearchPage(query or "", filters, (), saved, error=str(exc))
    encoder = site.encoder()
    leads = site.lead_encoder() if spec.mode != "text" else None
    # Embedded before the warehouse is opened: a page holds a writer back no longer than it must.
    sources = query_sources(site.settings, encoder, leads, spec.mode)
    prepared = prepare_search(site.settings, spec, sources, site.warehouse.path)
    with site.read() as db:
        report = search_in(db, site.settings, spec, prepared)
    return SearchPage(
        spec.query,
        filters,
        tuple(
            Result(
                rank=r["rank"],
                story_id=int(r["story_id"]),
                reports=int(r["reports"]),
                matched=int(r["matched"]),
                article_id=int(r["article_id"]),
                title=str(r["title"] or ""),
                site=str(r["site"] or ""),
                url=r["url"],
                published=r["published"],
                why=str(r["why"]),
                passage=str(r["passage"] or ""),
                marks=word_marks(str(r["passage"] or ""), r["matched_terms"]),
            )
            for r in report.records
        ),
        saved,
        report.unindexed,
    )


def show(site: Site, pages: Pages, request: Request) -> Response:
    """GET /search (and .json)."""
    page = search_page(site, request)
    title = f"Search: {page.query}" if page.query else "Search"
    return pages.render(
        request, "search.html", page, title=title, status=400 if page.error else 200
    )
