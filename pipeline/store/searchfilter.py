"""The WHERE conditions of a search's filters (since, topic, entity) on stored articles, shared
by the full-text and the vector queries."""

from __future__ import annotations

from typing import Any

from pipeline.errors import WatchlistMissingError
from pipeline.models import SearchFilters
from pipeline.store.db import Db


def has_table(db: Db, name: str) -> bool:
    """Whether the warehouse has a table of this name (the watchlist's appear with it)."""
    return bool(
        db.scalar(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ?",
            [name],
        )
    )


def filter_sql(db: Db, filters: SearchFilters, alias: str = "a") -> tuple[str, list[Any]]:
    """WHERE conditions on articles `alias` for the filters, with their parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.since is not None:
        clauses.append(f"coalesce({alias}.published_at, {alias}.fetched_at) >= ?")
        params.append(filters.since)
    if filters.topic:
        clauses.append(f"{alias}.id IN (SELECT article_id FROM article_topics WHERE topic = ?)")
        params.append(filters.topic)
    if filters.entity:
        if not has_table(db, "article_entities"):
            raise WatchlistMissingError(
                "the watchlist is not set up in this warehouse "
                "(no article_entities table); --entity needs it"
            )
        clauses.append(
            f"{alias}.id IN (SELECT article_id FROM article_entities "
            f"WHERE lower(entity) = lower(?))"
        )
        params.append(filters.entity)
    return (" AND ".join(clauses) or "TRUE"), params
