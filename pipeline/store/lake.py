"""The SQL behind `newswatch export`: articles, stories and vectors as Parquet partitioned by
month (DuckDB writes the Hive-style folders `month=YYYY-MM/` itself)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.store.db import Db

_MONTH = "strftime(coalesce(a.published_at, a.fetched_at), '%Y-%m')"


def has_table(db: Db, name: str) -> bool:
    """Whether the warehouse has a table (optional ones arrive with later migrations)."""
    return bool(
        db.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )


def _copy(db: Db, select: str, params: list, folder: Path) -> int:
    rows = int(db.scalar(f"SELECT count(*) FROM ({select})", params) or 0)
    if rows:
        folder.mkdir(parents=True, exist_ok=True)
        target = str(folder).replace("'", "''")
        db.execute(
            f"COPY ({select}) TO '{target}' (FORMAT parquet, PARTITION_BY (month), "
            f"FILENAME_PATTERN 'part-{{i}}', COMPRESSION zstd)",
            params,
        )
    return rows


def write_articles(db: Db, folder: Path, since: datetime | None) -> int:
    """Articles with their topics (and watched entities, when the warehouse has them)."""
    entities = (
        "(SELECT list(struct_pack(entity := e.entity, mentions := e.mentions) "
        "ORDER BY e.mentions DESC) FROM article_entities e WHERE e.article_id = a.id)"
        if has_table(db, "article_entities")
        else "NULL::STRUCT(entity VARCHAR, mentions INTEGER)[]"
    )
    select = (
        f"SELECT a.id, a.source, a.feed_id, f.title AS feed_title, "
        f"coalesce(a.site_name, f.title) AS source_name, a.url, a.canonical_url, a.title, "
        f"a.author, a.published_at, a.fetched_at, a.lang, a.description, a.text, "
        f"a.text_source, a.content_hash, a.word_count, a.duplicate_of, "
        f"a.duplicate_similarity, a.duplicate_kind, a.story_id, a.relevance, a.on_topic, "
        f"coalesce((SELECT list(struct_pack(topic := t.topic, score := t.score) "
        f"ORDER BY t.score DESC) FROM article_topics t WHERE t.article_id = a.id), []) AS topics, "
        f"{entities} AS entities, {_MONTH} AS month "
        f"FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id "
        f"WHERE ? IS NULL OR coalesce(a.published_at, a.fetched_at) >= ? ORDER BY a.id"
    )
    return _copy(db, select, [since, since], folder)


def write_stories(db: Db, folder: Path, since: datetime | None) -> int:
    """One row per story: when it began and last grew, its reports and sources, its topics."""
    select = (
        "WITH members AS (SELECT coalesce(a.story_id, a.id) AS story_id, a.id, a.title, "
        "a.duplicate_of, coalesce(a.published_at, a.fetched_at) AS at, "
        "coalesce(a.site_name, f.title, a.url) AS source_name FROM articles a "
        "LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.source = 'feed') "
        "SELECT m.story_id, min(m.at) AS first_seen, max(m.at) AS last_seen, "
        "count(*) AS reports, count(*) FILTER (WHERE m.duplicate_of IS NULL) AS originals, "
        "list(DISTINCT m.source_name) AS sources, arg_min(m.title, m.at) AS lead_title, "
        "list(DISTINCT t.topic) FILTER (WHERE t.topic IS NOT NULL) AS topics, "
        "strftime(min(m.at), '%Y-%m') AS month "
        "FROM members m LEFT JOIN article_topics t ON t.article_id = m.id "
        "GROUP BY m.story_id HAVING ? IS NULL OR min(m.at) >= ? ORDER BY m.story_id"
    )
    return _copy(db, select, [since, since], folder)


def write_embeddings(db: Db, folder: Path, since: datetime | None) -> int:
    """Article vectors with their model's name and dimension."""
    select = (
        f"SELECT e.article_id, e.model, e.dim, e.chunks, e.vector, {_MONTH} AS month "
        f"FROM embeddings e JOIN articles a ON a.id = e.article_id "
        f"WHERE ? IS NULL OR coalesce(a.published_at, a.fetched_at) >= ? ORDER BY e.article_id"
    )
    return _copy(db, select, [since, since], folder)


def write_marks(db: Db, folder: Path, since: datetime | None) -> int:
    """Every mark as made (replaced and withdrawn ones too), by the month it was made."""
    if not has_table(db, "marks"):
        return 0
    select = (
        "SELECT m.*, m.id IN (SELECT id FROM current_marks) AS in_force, "
        "strftime(m.marked_at, '%Y-%m') AS month FROM marks m "
        "WHERE ? IS NULL OR m.marked_at >= ? ORDER BY m.id"
    )
    return _copy(db, select, [since, since], folder)
