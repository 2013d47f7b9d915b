"""Writing and reading articles with their vectors, dedup decisions and topics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from pipeline.models import (
    Chunk,
    DedupDecision,
    DedupDoc,
    Embedding,
    EntityMatch,
    StoredArticle,
    StoryEvidence,
    StoryMerge,
    TagResult,
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


def borrowed(db: Db, ids: Sequence[int]) -> dict[int, tuple[Embedding, TagResult]]:
    """What a copy takes from its original: the original's article vector (no chunks) and its
    topics, relevance and on-topic flag, by original id."""
    if not ids:
        return {}
    topics: dict[int, list[TopicTag]] = {}
    for aid, topic, score, terms, passage, evidence in db.rows(
        "SELECT article_id, topic, score, matched_terms, passage, evidence FROM article_topics "
        "WHERE article_id IN (SELECT unnest(?)) ORDER BY article_id, score DESC",
        [list(ids)],
    ):
        topics.setdefault(int(aid), []).append(
            TopicTag(
                topic,
                float(score),
                tuple(terms or ()),
                passage or "",
                json.loads(evidence) if evidence else {},
            )
        )
    out = {}
    for aid, relevance, on_topic, model, vector in db.rows(
        "SELECT a.id, a.relevance, a.on_topic, e.model, e.vector FROM articles a "
        "JOIN embeddings e ON e.article_id = a.id WHERE a.id IN (SELECT unnest(?))",
        [list(ids)],
    ):
        out[int(aid)] = (
            Embedding(model, np.asarray(vector, dtype=np.float32), ()),
            TagResult(tuple(topics.get(int(aid), ())), float(relevance or 0.0), bool(on_topic)),
        )
    return out


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
            "SELECT id, title, text, lang FROM articles WHERE id IN (SELECT unnest(?)) ORDER BY id",
            [list(ids)],
        )
    ]


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


def max_article_id(db: Db) -> int:
    """Largest article id stored (0 when empty)."""
    return int(db.scalar("SELECT coalesce(max(id), 0) FROM articles") or 0)


def seed_states(db: Db) -> dict[str, tuple[int, str | None]]:
    """Stored seeds by url: (article id, file hash)."""
    return {
        url: (aid, fh)
        for aid, url, fh in db.rows(
            "SELECT id, url, seed_file_hash FROM articles WHERE source = 'seed'"
        )
    }


def existing_canonical_urls(db: Db, urls: Iterable[str]) -> dict[str, int]:
    """Which of these canonical URLs are stored already, with their article ids."""
    urls = [u for u in set(urls) if u]
    if not urls:
        return {}
    return {
        u: aid
        for u, aid in db.rows(
            "SELECT canonical_url, id FROM articles WHERE canonical_url IN (SELECT unnest(?))",
            [urls],
        )
    }


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


def counts_by_source(db: Db) -> dict[str, int]:
    """Number of articles per source."""
    return {s: n for s, n in db.rows("SELECT source, count(*) FROM articles GROUP BY source")}


def table_counts(db: Db) -> dict[str, int]:
    """Row count of every base table."""
    names = [
        r[0]
        for r in db.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema = 'main' ORDER BY table_name"
        )
    ]
    return {name: int(db.scalar(f'SELECT count(*) FROM "{name}"')) for name in names}


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
        by_article: dict[int, list[int]] = {}
        for pos, (aid, _) in enumerate(chunk_keys):
            by_article.setdefault(aid, []).append(pos)
        for (
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
        ) in rows:
            positions = by_article.get(aid, [])
            if positions:
                chunks = chunk_matrix[positions]
            elif n_chunks == 0 or (aid <= chunks_after and source != "seed"):
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
                title_vector=None
                if title_vector is None
                else np.asarray(title_vector, dtype=np.float32),
                lead_vector=None
                if lead_vector is None
                else np.asarray(lead_vector, dtype=np.float32),
            )
            yield (
                doc,
                DedupDecision(dup_of, dup_sim, dup_kind, int(story if story is not None else aid)),
            )
        low = high


def ids_with_chunks(db: Db, *, up_to: int) -> set[int]:
    """Ids (at most `up_to`) of the articles that have chunk vectors stored."""
    return {
        int(r[0])
        for r in db.rows(
            "SELECT DISTINCT article_id FROM chunk_embeddings WHERE article_id <= ?", [up_to]
        )
    }


def titles(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """Titles of some articles by id, in id order."""
    if not ids:
        return {}
    return {
        int(i): t or ""
        for i, t in db.rows(
            "SELECT id, title FROM articles WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)]
        )
    }


def texts(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """Texts of some articles by id."""
    if not ids:
        return {}
    return {
        int(i): t
        for i, t in db.rows(
            "SELECT id, text FROM articles WHERE id IN (SELECT unnest(?))", [list(ids)]
        )
    }
