"""Writing articles: the rows, their vectors, topics, entities, terms and story merges."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from pipeline.models import (
    Chunk,
    Embedding,
    EntityMatch,
    StoredArticle,
    StoryEvidence,
    StoryMerge,
    TopicTag,
)
from pipeline.store import search as search_store
from pipeline.store.db import Db
from pipeline.store.stories import record_merges

_ARTICLE_COLUMNS = (
    "id",
    "source",
    "feed_id",
    "url",
    "canonical_url",
    "guid",
    "entry_key",
    "title",
    "author",
    "published_at",
    "fetched_at",
    "lang",
    "site_name",
    "description",
    "text",
    "text_source",
    "text_source_reason",
    "content_hash",
    "word_count",
    "duplicate_of",
    "duplicate_similarity",
    "duplicate_kind",
    "story_id",
    "relevance",
    "on_topic",
    "seed_file_hash",
    "story_evidence",
    "archive_source",
    "archive_record_id",
)


def _article_row(a: StoredArticle) -> list:
    d = a.draft
    return [
        a.id,
        d.source,
        d.feed_id,
        d.url,
        d.canonical_url,
        d.guid,
        d.entry_key,
        d.title,
        d.author,
        d.published_at,
        d.fetched_at,
        d.lang,
        d.site_name,
        d.description,
        d.text,
        d.text_source,
        d.text_source_reason,
        a.content_hash,
        a.word_count,
        a.dedup.duplicate_of,
        a.dedup.similarity,
        a.dedup.kind,
        a.dedup.story_id,
        float(a.tags.relevance),
        bool(a.tags.on_topic),
        d.seed_file_hash,
        evidence_json(a.dedup.story_evidence),
        d.archive_source,
        d.archive_record_id,
    ]


def evidence_json(evidence: StoryEvidence | StoryMerge | None) -> str | None:
    """Story evidence (or one merge's) as stored (JSON), or NULL when there is none."""
    if evidence is None:
        return None
    return json.dumps(evidence.to_json(), ensure_ascii=False, default=str)


def write_topics(db: Db, tags: Mapping[int, Iterable[TopicTag]], *, replace: bool) -> None:
    """The one writer of `article_topics`: each article's tags, replacing its old ones if asked
    (call inside a transaction)."""
    ids = list(tags)
    if replace and ids:
        db.execute("DELETE FROM article_topics WHERE article_id IN (SELECT unnest(?))", [ids])
    rows = [(aid, t) for aid in ids for t in tags[aid]]
    if not rows:
        return
    db.insert_columns(
        "article_topics",
        {
            "article_id": [aid for aid, _ in rows],
            "topic": [t.topic for _, t in rows],
            "score": [float(t.score) for _, t in rows],
            "evidence": [json.dumps(t.evidence, ensure_ascii=False, default=str) for _, t in rows],
            "matched_terms": [list(t.matched_terms) for _, t in rows],
            "passage": [(t.passage or "")[:300] for _, t in rows],
        },
    )


def write_entities(db: Db, found: Mapping[int, Iterable[EntityMatch]], *, replace: bool) -> None:
    """The one writer of `article_entities`: each article's watchlist matches, replacing its old
    ones if asked (call inside a transaction)."""
    ids = list(found)
    if replace and ids:
        db.execute("DELETE FROM article_entities WHERE article_id IN (SELECT unnest(?))", [ids])
    rows = [(aid, m) for aid in ids for m in found[aid]]
    if not rows:
        return
    db.insert_columns(
        "article_entities",
        {
            "article_id": [aid for aid, _ in rows],
            "entity": [m.entity for _, m in rows],
            "mentions": [int(m.mentions) for _, m in rows],
            "first_offset": [m.first_offset for _, m in rows],
            "evidence": [m.evidence for _, m in rows],
            "aliases": [list(m.aliases) for _, m in rows],
        },
    )


def _insert_chunks(db: Db, chunks: Sequence[tuple[int, int, Chunk, str]]) -> None:
    db.insert_columns(
        "chunk_embeddings",
        {
            "article_id": [aid for aid, _, _, _ in chunks],
            "chunk_no": [i for _, i, _, _ in chunks],
            "start_char": [c.start_char for _, _, c, _ in chunks],
            "end_char": [c.end_char for _, _, c, _ in chunks],
            "model": [model for _, _, _, model in chunks],
            "vector": np.stack([c.vector for _, _, c, _ in chunks]),
        },
    )


def replace_embedding(db: Db, article_id: int, embedding: Embedding) -> None:
    """Give a stored article vectors of its own (one that had borrowed its original's)."""
    db.execute("DELETE FROM chunk_embeddings WHERE article_id = ?", [article_id])
    db.execute(
        "UPDATE embeddings SET model = ?, dim = ?, chunks = ?, vector = ? WHERE article_id = ?",
        [
            embedding.model,
            int(embedding.vector.shape[0]),
            len(embedding.chunks),
            embedding.vector.tolist(),
            article_id,
        ],
    )
    if embedding.chunks:
        _insert_chunks(
            db, [(article_id, i, c, embedding.model) for i, c in enumerate(embedding.chunks)]
        )


def insert_articles(db: Db, articles: Sequence[StoredArticle]) -> None:
    """Insert articles with embeddings, chunk vectors and topics (call inside a transaction)."""
    if not articles:
        return
    rows = [_article_row(a) for a in articles]
    db.insert_columns(
        "articles", {name: [r[i] for r in rows] for i, name in enumerate(_ARTICLE_COLUMNS)}
    )
    titled = [
        (a.id, a.embedding.title_vector) for a in articles if a.embedding.title_vector is not None
    ]
    columns = {
        "article_id": [a.id for a in articles],
        "model": [a.embedding.model for a in articles],
        "dim": [int(a.embedding.vector.shape[0]) for a in articles],
        "chunks": [len(a.embedding.chunks) for a in articles],
        "vector": np.stack([a.embedding.vector for a in articles]),
    }
    if len(titled) == len(articles):
        columns["title_vector"] = np.stack([v for _, v in titled])
    db.insert_columns("embeddings", columns)
    if titled and len(titled) < len(articles):
        set_title_vectors(db, [i for i, _ in titled], np.stack([v for _, v in titled]))
    chunks = [
        (a.id, i, c, a.embedding.model) for a in articles for i, c in enumerate(a.embedding.chunks)
    ]
    if chunks:  # copies found by their text have no chunks of their own
        _insert_chunks(db, chunks)
    led = [
        (a, a.embedding.lead_vector)
        for a in articles
        if a.embedding.lead_vector is not None and a.embedding.lead_model
    ]
    for model in sorted({a.embedding.lead_model for a, _ in led}):
        some = [(a, v) for a, v in led if a.embedding.lead_model == model]
        write_leads(
            db,
            model,
            [(a.id, a.draft.lang) for a, _ in some],
            np.stack([v for _, v in some]),
        )
    write_topics(db, {a.id: a.tags.topics for a in articles}, replace=False)
    write_entities(db, {a.id: a.entities for a in articles}, replace=False)
    search_store.write_terms(
        db, {a.id: a.terms for a in articles if a.terms is not None}, replace=False
    )
    merges = [
        (a.id, a.dedup.story_id, m, a.dedup.story_evidence)
        for a in articles
        for m in a.dedup.merged_stories
    ]
    if merges:
        record_merges(db, merges)


def write_leads(
    db: Db, model: str, articles: Sequence[tuple[int, str | None]], vectors: np.ndarray
) -> None:
    """Store multilingual lead vectors of (id, language) articles, replacing older ones."""
    if not articles:
        return
    ids = [a for a, _ in articles]
    db.execute("DELETE FROM lead_embeddings WHERE article_id IN (SELECT unnest(?))", [ids])
    db.insert_columns(
        "lead_embeddings",
        {
            "article_id": ids,
            "model": [model] * len(ids),
            "lang": [lang or "" for _, lang in articles],
            "vector": np.asarray(vectors, dtype=np.float32),
        },
    )


def set_title_vectors(db: Db, ids: Sequence[int], vectors: np.ndarray) -> None:
    """Store the headline vectors of some articles (their embeddings rows exist)."""
    db.execute("CREATE TEMP TABLE _new_titles (article_id BIGINT, title_vector FLOAT[])")
    try:
        db.insert_columns("_new_titles", {"article_id": list(ids), "title_vector": vectors})
        db.execute(
            "UPDATE embeddings SET title_vector = n.title_vector FROM _new_titles n "
            "WHERE embeddings.article_id = n.article_id"
        )
    finally:
        db.execute("DROP TABLE IF EXISTS _new_titles")


def delete_articles(db: Db, ids: Sequence[int]) -> None:
    """Remove articles and everything hanging off them (call inside a transaction)."""
    if not ids:
        return
    params = [list(ids)]
    search_store.delete_terms(db, ids)
    for table, column in (
        ("article_topics", "article_id"),
        ("article_entities", "article_id"),
        ("chunk_embeddings", "article_id"),
        ("lead_embeddings", "article_id"),
        ("embeddings", "article_id"),
        ("articles", "id"),
    ):
        db.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?))", params)
