"""Reading articles: what a copy borrows, ids, seeds, URLs, titles and counts (their texts:
pipeline/store/texts.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np

from pipeline.models import Embedding, TagResult, TopicTag
from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_match


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
        "JOIN embeddings e ON e.article_id = a.id "
        f"WHERE {id_match('a.id', ids)} AND {id_match('e.article_id', ids)}"
    ):
        out[int(aid)] = (
            Embedding(model, np.asarray(vector, dtype=np.float32), ()),
            TagResult(tuple(topics.get(int(aid), ())), float(relevance or 0.0), bool(on_topic)),
        )
    return out


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


def titles(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """Titles of some articles by id, in id order."""
    if not ids:
        return {}
    return {
        int(i): t or ""
        for i, t in db.rows(
            f"SELECT id, title FROM articles WHERE {id_match('id', ids)} ORDER BY id"
        )
    }
