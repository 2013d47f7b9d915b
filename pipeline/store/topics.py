"""Reading articles for re-tagging and explaining, and writing new tags."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline.models import Chunk, Embedding, TagResult
from pipeline.store.articles import write_topics
from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_match


def stored_embeddings(
    db: Db, ids: Sequence[int] | None = None, lead_model: str | None = None
) -> Iterator[tuple[int, str, str, Embedding, str | None]]:
    """(id, title, text, embedding rebuilt from stored chunk vectors, language) of articles, by
    id; the embedding carries the headline vector, and the lead vector made by `lead_model`, if
    there are ones."""
    where = "" if ids is None else f"WHERE {id_match('a.id', ids)}"
    rows = db.rows(
        f"SELECT a.id, a.title, a.text, e.model, e.vector, a.lang, l.vector, e.title_vector "
        f"FROM articles a JOIN embeddings e ON e.article_id = a.id "
        f"LEFT JOIN lead_embeddings l ON l.article_id = a.id AND l.model = ? "
        f"{where} ORDER BY a.id",
        [lead_model or ""],
    )
    # Through Arrow (Db.fetch_vectors): the chunk vectors are most of what is read, and as
    # Python lists of floats they would take some thirty times their size on the way.
    keys, matrix = db.fetch_vectors(
        f"SELECT c.article_id, c.start_char, c.end_char, c.vector FROM chunk_embeddings c "
        f"{'' if ids is None else 'WHERE ' + id_match('c.article_id', ids)} "
        f"ORDER BY c.article_id, c.chunk_no"
    )
    chunks: dict[int, list[Chunk]] = {}
    for (aid, start, end), vector in zip(keys, matrix, strict=True):
        chunks.setdefault(aid, []).append(Chunk(start, end, 0, vector))
    for aid, title, text, model, vector, lang, lead, heading in rows:
        vec = np.asarray(vector, dtype=np.float32)
        own = tuple(chunks.get(aid) or [Chunk(0, len(text), 0, vec)])
        yield (
            aid,
            title,
            text,
            Embedding(
                model,
                vec,
                own,
                title_vector=None if heading is None else np.asarray(heading, np.float32),
                lead_vector=None if lead is None else np.asarray(lead, np.float32),
                lead_model=lead_model or "" if lead is not None else "",
            ),
            lang,
        )


def embedded_ids(db: Db) -> list[int]:
    """Ids of the articles that `stored_embeddings` can read (those with an embeddings row), in
    order."""
    return [
        int(aid)
        for (aid,) in db.rows(
            "SELECT a.id FROM articles a JOIN embeddings e ON e.article_id = a.id ORDER BY a.id"
        )
    ]


def borrowers(db: Db) -> dict[int, int]:
    """Copies stored without vectors of their own, with the original they borrow tags from."""
    return {
        int(a): int(o)
        for a, o in db.rows(
            "SELECT a.id, a.duplicate_of FROM articles a JOIN embeddings e ON e.article_id = a.id "
            "WHERE e.chunks = 0 AND a.duplicate_of IS NOT NULL"
        )
    }


def current_tags(db: Db) -> dict[int, set[str]]:
    """Topics of every article."""
    out: dict[int, set[str]] = {}
    for aid, topic in db.rows("SELECT article_id, topic FROM article_topics"):
        out.setdefault(aid, set()).add(topic)
    return out


def replace_all_tags(db: Db, results: dict[int, TagResult]) -> None:
    """Replace topics, relevance and on-topic flags of the given articles (one transaction)."""
    ids = list(results)
    if not ids:
        return
    write_topics(db, {aid: r.topics for aid, r in results.items()}, replace=True)
    db.execute("CREATE TEMP TABLE _relevance (id BIGINT, relevance DOUBLE, on_topic BOOLEAN)")
    try:
        db.insert_columns(
            "_relevance",
            {
                "id": ids,
                "relevance": [r.relevance for r in results.values()],
                "on_topic": [r.on_topic for r in results.values()],
            },
        )
        db.execute(
            "UPDATE articles SET relevance = r.relevance, on_topic = r.on_topic "
            "FROM _relevance r WHERE articles.id = r.id"
        )
    finally:
        db.execute("DROP TABLE IF EXISTS _relevance")


def explain_rows(db: Db, article_id: int) -> dict[str, Any] | None:
    """An article's stored tags with their evidence."""
    article = db.dicts(
        "SELECT id, title, url, source, relevance, on_topic, duplicate_of, "
        "story_id FROM articles WHERE id = ?",
        [article_id],
    )
    if not article:
        return None
    tags = db.dicts(
        "SELECT topic, score, matched_terms, passage, evidence FROM article_topics "
        "WHERE article_id = ? ORDER BY score DESC",
        [article_id],
    )
    return {**article[0], "tags": tags}
