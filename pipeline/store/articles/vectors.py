"""Reading articles' vectors: for the vector index, for deduplication, and the leads to make."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline.models import DedupDecision, DedupDoc
from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_match


def article_vectors(
    db: Db, *, source: str | None = None, after_id: int = 0
) -> tuple[list[int], np.ndarray]:
    """Article ids and their pooled vectors (optionally one source, or newer than an id)."""
    sql = (
        "SELECT e.article_id, e.vector FROM embeddings e JOIN articles a ON a.id = e.article_id "
        "WHERE a.id > ?"
    )
    params: list = [after_id]
    if source:
        sql += " AND a.source = ?"
        params.append(source)
    keys, matrix = db.fetch_vectors(sql + " ORDER BY e.article_id", params)
    return [int(k) for k in keys], matrix


def chunk_vectors(
    db: Db, *, source: str | None = None, after_id: int = 0, up_to: int | None = None
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(article id, chunk number) keys and chunk vectors (optionally one source, or ids in
    (after_id, up_to])."""
    sql = (
        "SELECT c.article_id, c.chunk_no, c.vector FROM chunk_embeddings c "
        "JOIN articles a ON a.id = c.article_id WHERE a.id > ?"
    )
    params: list = [after_id]
    if up_to is not None:
        sql += " AND a.id <= ?"
        params.append(up_to)
    if source:
        sql += " AND a.source = ?"
        params.append(source)
    keys, matrix = db.fetch_vectors(sql + " ORDER BY c.article_id, c.chunk_no", params)
    return [(int(a), int(c)) for a, c in keys], matrix


def dedup_rows(
    db: Db,
    *,
    after_id: int = 0,
    chunks_after: int = 0,
    page: int = 5000,
    lead_model: str | None = None,
) -> Iterator[tuple[DedupDoc, DedupDecision]]:
    """Stored articles newer than `after_id` as dedup documents with their decisions, in id order,
    read `page` articles at a time (a million chunk vectors at once would not fit the budget).

    Chunk vectors are read only for articles newer than `chunks_after` and for seeds (a persisted
    vector index holds the others); the rest come with no chunk vectors. Lead vectors come with
    the documents when they were made by `lead_model`."""
    low = after_id
    while True:
        rows = db.rows(
            "SELECT a.id, a.text, a.content_hash, a.lang, coalesce(a.published_at, a.fetched_at), "
            "a.source, a.duplicate_of, a.duplicate_similarity, a.duplicate_kind, a.story_id, "
            "e.vector, e.title_vector, e.chunks, l.vector FROM articles a "
            "JOIN embeddings e ON e.article_id = a.id "
            "LEFT JOIN lead_embeddings l ON l.article_id = a.id AND l.model = ? "
            "WHERE a.id > ? ORDER BY a.id LIMIT ?",
            [lead_model or "", low, page],
        )
        if not rows:
            return
        high = int(rows[-1][0])
        chunk_keys, chunk_matrix = _page_chunks(db, low, high, chunks_after)
        by_article: dict[int, list[int]] = {}
        for pos, (aid, _) in enumerate(chunk_keys):
            by_article.setdefault(aid, []).append(pos)
        for row in rows:
            positions = by_article.get(row[0], [])
            chunks = chunk_matrix[positions] if positions else None
            yield _dedup_row(row, chunks, chunks_after)
        low = high


def _page_chunks(
    db: Db, low: int, high: int, chunks_after: int
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The chunk vectors one page of dedup_rows reads: newer than `chunks_after`, and seeds'."""
    chunk_keys, chunk_matrix = chunk_vectors(db, after_id=max(low, chunks_after), up_to=high)
    if chunks_after > low:
        seed_keys, seed_matrix = chunk_vectors(
            db, source="seed", after_id=low, up_to=min(high, chunks_after)
        )
        if seed_keys:
            chunk_keys = seed_keys + chunk_keys
            chunk_matrix = (
                np.vstack([seed_matrix, chunk_matrix]) if chunk_matrix.size else seed_matrix
            )
    return chunk_keys, chunk_matrix


def _dedup_row(
    row: Sequence[Any], chunks: np.ndarray | None, chunks_after: int
) -> tuple[DedupDoc, DedupDecision]:
    """One row of dedup_rows' query as a document and its decision (`chunks`: those read)."""
    (
        aid,
        text,
        digest,
        lang,
        when,
        source,
        dup_of,
        dup_sim,
        dup_kind,
        story,
        vector,
        title_vector,
        n_chunks,
        lead_vector,
    ) = row
    if chunks is None:
        if n_chunks == 0 or (aid <= chunks_after and source != "seed"):
            # A copy found by its text has no vectors of its own; the others are held by
            # the persisted vector index.
            chunks = np.zeros((0, len(vector)), dtype=np.float32)
        else:
            chunks = np.asarray([vector], dtype=np.float32)
    doc = DedupDoc(
        id=int(aid),
        text=text,
        content_hash=digest,
        lang=lang,
        published_at=when,
        vector=np.asarray(vector, dtype=np.float32),
        chunk_vectors=chunks,
        is_seed=source == "seed",
        title_vector=None if title_vector is None else np.asarray(title_vector, dtype=np.float32),
        lead_vector=None if lead_vector is None else np.asarray(lead_vector, dtype=np.float32),
    )
    return doc, DedupDecision(dup_of, dup_sim, dup_kind, int(story if story is not None else aid))


def ids_with_chunks(db: Db, *, up_to: int) -> set[int]:
    """Ids (at most `up_to`) of the articles that have chunk vectors stored."""
    return {
        int(r[0])
        for r in db.rows(
            "SELECT DISTINCT article_id FROM chunk_embeddings WHERE article_id <= ?", [up_to]
        )
    }


def lacking_leads(db: Db, model: str) -> list[int]:
    """Originals without a lead vector of this model, oldest first."""
    return [
        int(r[0])
        for r in db.rows(
            "SELECT a.id FROM articles a LEFT JOIN lead_embeddings l ON l.article_id = a.id "
            "AND l.model = ? WHERE a.duplicate_of IS NULL AND l.article_id IS NULL ORDER BY a.id",
            [model],
        )
    ]


def lead_inputs(db: Db, ids: Sequence[int]) -> list[tuple[int, str, str, str | None]]:
    """(id, title, text, language) of some articles, by id: what their leads are read from."""
    return [
        (int(a), t or "", x, lang)
        for a, t, x, lang in db.rows(
            f"SELECT id, title, text, lang FROM articles WHERE {id_match('id', ids)} ORDER BY id",
        )
    ]


def vector_models(db: Db) -> dict[str, int]:
    """Articles' vectors per stored model name (the name says the precision: embed/precision.py)."""
    return {str(m): int(n) for m, n in db.rows("SELECT model, count(*) FROM embeddings GROUP BY 1")}
