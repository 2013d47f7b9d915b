"""What topics that learn from marks read of the warehouse: the marks in force they learn from,
the stored articles that stand for the news at large, the seeds, and what the trainer page shows
of the articles it asks about. The models' versions are pipeline/store/topic_models.py's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.store.db import Db
from pipeline.store.lake import has_table
from pipeline.store.sqlvalues import id_list


def has_marks(db: Db) -> bool:
    """Whether the warehouse has the marks (a file older than migration 0011 has none)."""
    return has_table(db, "marks")


@dataclass(frozen=True)
class MarkInForce:
    """A topic or off-theme mark in force on an article."""

    article: int
    kind: str  # 'topic' or 'off_theme'
    topic: str | None  # the topic's slug (None: off the theme)
    value: bool  # is about it (off the theme: always true)
    id: int  # the mark's id


def marks_in_force(db: Db) -> list[MarkInForce]:
    """The topic and off-theme marks in force, oldest first."""
    return [
        MarkInForce(int(a), str(k), None if t is None else str(t), bool(v), int(i))
        for a, k, t, v, i in db.rows(
            "SELECT article_id, kind, topic, value, id FROM current_marks "
            "WHERE kind IN ('topic', 'off_theme') ORDER BY id"
        )
    ]


def marked_by(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """{mark id: who made it} of some marks."""
    if not ids:
        return {}
    return {
        int(i): str(who)
        for i, who in db.rows(
            "SELECT id, marked_by FROM marks WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [id_list(ids)],
        )
    }


def sample_ids(db: Db, n: int, leave_out: set[int] | None = None) -> list[int]:
    """The newest n stored originals with vectors (no seeds), less `leave_out` (copies say what
    their original says)."""
    skip = leave_out or set()
    rows = db.rows(
        "SELECT a.id FROM articles a JOIN embeddings e ON e.article_id = a.id "
        "WHERE a.duplicate_of IS NULL AND a.source <> 'seed' ORDER BY a.id DESC LIMIT ?",
        [n + len(skip)],
    )
    return [int(a) for (a,) in rows if int(a) not in skip][:n]


def seed_ids(db: Db) -> list[int]:
    """The ids of the stored seed articles."""
    return [int(a) for (a,) in db.rows("SELECT id FROM articles WHERE source = 'seed'")]


def tagged_with(db: Db, topic: str, ids: Sequence[int]) -> set[int]:
    """Those of some articles that have a topic now."""
    return {
        int(a)
        for (a,) in db.rows(
            "SELECT article_id FROM article_topics WHERE topic = ? "
            "AND article_id IN (SELECT unnest(?))",
            [topic, list(ids)],
        )
    }


@dataclass(frozen=True)
class ArticleHeading:
    """What the trainer page shows of an article it asks about."""

    title: str
    url: str
    fetched_at: datetime | None


def headings(db: Db, ids: Sequence[int]) -> dict[int, ArticleHeading]:
    """The title, URL and fetch time of some articles, by id."""
    return {
        int(a): ArticleHeading(t, u, f)
        for a, t, u, f in db.rows(
            "SELECT id, title, url, fetched_at FROM articles "
            "WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [id_list(ids)],
        )
    }
