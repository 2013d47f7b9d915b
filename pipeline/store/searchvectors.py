"""Nearest chunks in SQL: the meaning ranking over stored vectors (exact), and the chunk rows a
search through the saved vector index reads for the articles the index does not hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.models import MeaningHit, SearchFilters
from pipeline.models.vectors import PRECISION_SEPARATOR
from pipeline.store.db import Db
from pipeline.store.searchfilter import filter_sql
from pipeline.store.sqlvalues import id_list, vector_text

#: Tables of vectors a meaning search may read: chunk vectors of the English model, and the
#: multilingual title + lead vectors of articles in other languages (the English model's chunks
#: find English ones better).
LEAD_TABLE = "lead_embeddings"


VECTOR_TABLES = ("chunk_embeddings", LEAD_TABLE)


#: Characters of an article's start that a lead vector stands for (its passage is found there).
LEAD_SPAN = 400


def meaning_ranking(
    db: Db,
    vector: np.ndarray,
    model: str,
    *,
    filters: SearchFilters = SearchFilters(),
    depth: int = 100,
    table: str = "chunk_embeddings",
    only: Sequence[int] | None = None,
) -> list[MeaningHit]:
    """Articles by the cosine of their closest chunk to `vector` (vectors of `model` only, at
    either precision: pipeline/embed/precision.py), best first, with that chunk's span. `only`
    restricts to some article ids."""
    if table not in VECTOR_TABLES:
        raise ValueError(f"not a vector table: {table}")
    where, params = filter_sql(db, filters)
    restrict = ""
    extra: list[Any] = []
    if only is not None:
        restrict = " AND c.article_id IN (SELECT unnest(?::BIGINT[]))"
        extra.append(id_list(only))
    span = "c.start_char, c.end_char"
    if table == LEAD_TABLE:
        span = f"0 AS start_char, {LEAD_SPAN} AS end_char"
        restrict += " AND coalesce(c.lang, '') NOT LIKE 'en%'"
    sql = f"""
        WITH c AS (SELECT c.article_id, {span},
                          list_cosine_similarity(c.vector, ?::FLOAT[]) AS sim
                   FROM {table} c
                   WHERE (c.model = ? OR starts_with(c.model, ?)){restrict})
        SELECT c.article_id, max(c.sim) AS sim, arg_max(c.start_char, c.sim),
               arg_max(c.end_char, c.sim)
        FROM c JOIN articles a ON a.id = c.article_id
        WHERE {where}
        GROUP BY c.article_id ORDER BY sim DESC, c.article_id LIMIT ?"""
    rows = db.rows(
        sql,
        [vector_text(vector), model, model + PRECISION_SEPARATOR] + extra + params + [depth],
    )
    return [
        MeaningHit(int(aid), float(sim), int(start), int(end), source=table)
        for aid, sim, start, end in rows
    ]


def database_file(db: Db) -> str | None:
    """The file of the open warehouse (None for one in memory)."""
    if db.path is not None:
        return str(db.path)
    path = db.scalar("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    return str(path) if path else None


def _of_model(model: str) -> tuple[str, list[Any]]:
    """The condition on chunk rows `c` that they are vectors of `model`, at either precision."""
    return "(c.model = ? OR starts_with(c.model, ?))", [model, model + PRECISION_SEPARATOR]


@dataclass(frozen=True)
class ChunkRows:
    """Stored chunk vectors with their articles, chunk numbers and spans (parallel arrays)."""

    article_ids: np.ndarray
    chunk_nos: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray


def chunk_rows(
    db: Db,
    model: str,
    *,
    after: int | None = None,
    ids: Sequence[int] | None = None,
    filters: SearchFilters = SearchFilters(),
) -> ChunkRows:
    """The chunk vectors of `model` of the articles with an id above `after` (a range the scan
    reads alone) or of `ids`, that pass the filters."""
    where, params = filter_sql(db, filters)
    model_sql, model_params = _of_model(model)
    restrict, extra = "", list[Any]()
    if after is not None:
        restrict += " AND c.article_id > ?"
        extra.append(after)
    if ids is not None:
        restrict += " AND c.article_id IN (SELECT unnest(?::BIGINT[]))"
        extra.append(id_list(ids))
    keys, matrix = db.fetch_vectors(
        f"SELECT c.article_id, c.chunk_no, c.start_char, c.end_char, c.vector "
        f"FROM chunk_embeddings c JOIN articles a ON a.id = c.article_id "
        f"WHERE {model_sql}{restrict} AND {where} ORDER BY c.article_id, c.chunk_no",
        model_params + extra + params,
    )
    columns = np.asarray(keys, dtype=np.int64).reshape(-1, 4)
    return ChunkRows(columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3], matrix)


def chunk_spans(
    db: Db, model: str, chunks: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, int]]:
    """The spans of those of these chunks (article id, chunk number) stored with vectors of
    `model`."""
    if not chunks:
        return {}
    wanted = set(chunks)
    # The model is compared here, not in SQL: a condition on the text column costs DuckDB a scan
    # of it (18 ms at 680,000 chunks, 8 ms without).
    rows = db.rows(
        "SELECT article_id, chunk_no, start_char, end_char, model FROM chunk_embeddings "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [id_list(sorted({a for a, _ in chunks}))],
    )
    prefix = model + PRECISION_SEPARATOR
    return {
        (int(a), int(n)): (int(s), int(e))
        for a, n, s, e, m in rows
        if (int(a), int(n)) in wanted and (m == model or m.startswith(prefix))
    }


def articles_with_chunks(db: Db, model: str, *, up_to: int) -> np.ndarray:
    """Ids (at most `up_to`) of the articles with chunk vectors of `model`, ascending."""
    model_sql, model_params = _of_model(model)
    rows = db.rows(
        f"SELECT DISTINCT c.article_id FROM chunk_embeddings c "
        f"WHERE c.article_id <= ? AND {model_sql} ORDER BY 1",
        [up_to] + model_params,
    )
    return np.asarray([r[0] for r in rows], dtype=np.int64)
