"""Analysts' marks (`marks`, `current_marks`): recording them once, reading what is in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_list

KINDS = ("topic", "off_theme", "split", "merge")


@dataclass(frozen=True)
class NewMark:
    """One mark to record (see migrations/0011_marks.sql for what each field means)."""

    kind: str
    value: bool | None
    marked_by: str
    via: str
    article_id: int | None = None
    topic: str | None = None
    story_id: int | None = None
    other_story_id: int | None = None
    tagger: str | None = None
    seen_score: float | None = None
    request_id: str | None = None


def record(db: Db, marks: Sequence[NewMark], now: datetime) -> list[int]:
    """Insert marks (call inside a transaction); a mark whose request id is recorded already is
    skipped (a form sent twice). The ids of the marks inserted."""
    ids = []
    for m in marks:
        if m.request_id is not None and db.scalar(
            "SELECT id FROM marks WHERE request_id = ?", [m.request_id]
        ):
            continue
        ids.append(
            int(
                db.scalar(
                    "INSERT INTO marks (kind, article_id, topic, story_id, other_story_id, value, "
                    "marked_by, via, marked_at, tagger, seen_score, request_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [
                        m.kind,
                        m.article_id,
                        m.topic,
                        m.story_id,
                        m.other_story_id,
                        m.value,
                        m.marked_by,
                        m.via,
                        now,
                        m.tagger,
                        m.seen_score,
                        m.request_id,
                    ],
                )
            )
        )
    return ids


def history(
    db: Db, *, limit: int = 50, article_id: int | None = None, topic: str | None = None
) -> list[dict[str, Any]]:
    """Marks as made (withdrawn and replaced ones too), newest first, with whether each is the
    one in force."""
    return db.dicts(
        "SELECT m.id, m.kind, m.article_id, m.topic, m.story_id, m.other_story_id, m.value, "
        "m.marked_by, m.via, m.marked_at, m.tagger, m.seen_score, "
        "m.id IN (SELECT id FROM current_marks) AS in_force, a.title "
        "FROM marks m LEFT JOIN articles a ON a.id = m.article_id "
        "WHERE (CAST(? AS BIGINT) IS NULL OR m.article_id = ?) "
        "AND (CAST(? AS VARCHAR) IS NULL OR m.topic = ?) ORDER BY m.id DESC LIMIT ?",
        [article_id, article_id, topic, topic, limit],
    )


def topic_marks(db: Db, topic: str | None = None) -> dict[tuple[int, str], bool]:
    """{(article, topic): is about it} of the topic marks in force (one topic, or all)."""
    return {
        (int(a), str(t)): bool(v)
        for a, t, v in db.rows(
            "SELECT article_id, topic, value FROM current_marks WHERE kind = 'topic' "
            "AND (CAST(? AS VARCHAR) IS NULL OR topic = ?)",
            [topic, topic],
        )
    }


def off_theme(db: Db) -> set[int]:
    """Articles marked off the theme (in force)."""
    return {
        int(a) for (a,) in db.rows("SELECT article_id FROM current_marks WHERE kind = 'off_theme'")
    }


def splits(db: Db) -> list[tuple[int, int]]:
    """(article, the story it was taken out of) of the splits in force, oldest first."""
    return [
        (int(a), int(s))
        for a, s in db.rows(
            "SELECT article_id, story_id FROM current_marks WHERE kind = 'split' ORDER BY id"
        )
    ]


def merges(db: Db) -> list[tuple[int, int]]:
    """(story, other story) of the merges in force, oldest first."""
    return [
        (int(a), int(b))
        for a, b in db.rows(
            "SELECT story_id, other_story_id FROM current_marks WHERE kind = 'merge' ORDER BY id"
        )
    ]


def latest_id(db: Db) -> int:
    """The newest mark's id (0 without marks): what tells a reader that marks changed."""
    return int(db.scalar("SELECT coalesce(max(id), 0) FROM marks") or 0)


def of_articles(db: Db, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The marks in force on some articles, by article."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    for row in db.dicts(
        "SELECT id, kind, article_id, topic, value, marked_by, marked_at FROM current_marks "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
        [id_list(ids)],
    ):
        out.setdefault(int(row["article_id"]), []).append(row)
    return out


def topic_marks_of(db: Db, ids: Sequence[int]) -> dict[tuple[int, str], bool]:
    """{(article, topic): is about it} of the topic marks in force on some articles."""
    if not ids:
        return {}
    return {
        (int(a), str(t)): bool(v)
        for a, t, v in db.rows(
            "SELECT article_id, topic, value FROM current_marks WHERE kind = 'topic' "
            "AND article_id IN (SELECT unnest(?::BIGINT[]))",
            [id_list(ids)],
        )
    }


def story_marks(db: Db) -> list[tuple[str, int, int]]:
    """The story marks in force, in the order made: ('merge', story, other story) and ('split',
    article, the story it left)."""
    return [
        (str(kind), int(a), int(b))
        for kind, a, b in db.rows(
            "SELECT kind, CASE kind WHEN 'merge' THEN story_id ELSE article_id END, "
            "CASE kind WHEN 'merge' THEN other_story_id ELSE story_id END FROM current_marks "
            "WHERE kind IN ('merge', 'split') ORDER BY id"
        )
    ]


def copies_of(db: Db, ids: Sequence[int]) -> dict[int, list[int]]:
    """{article: its stored copies} of some articles."""
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    for copy, original in db.rows(
        "SELECT id, duplicate_of FROM articles WHERE duplicate_of IN (SELECT unnest(?::BIGINT[]))",
        [id_list(ids)],
    ):
        out.setdefault(int(original), []).append(int(copy))
    return out
