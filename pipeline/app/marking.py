"""Marks: an analyst says an article is (not) about a topic, is off the theme, is not part of its
story, or that two stories are one. Each mark is recorded once and takes effect at once on what it
names; the learned part of topics (pipeline/tag/learned.py) and later story decisions learn from
the marks in force.

A mark is one short write transaction: it waits for a batch the daemon is writing (up to
`wait_s`), never for the daemon's whole cycle, so the reading room's buttons answer in moments.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config.settings import Settings
from pipeline.errors import NewswatchError
from pipeline.store import marks as mark_store
from pipeline.store.db import Db, Warehouse
from pipeline.tag.topics import load_topics


class MarkError(NewswatchError):
    """A mark that cannot be made: an unknown article, story or topic."""

    exit_code = 2


@dataclass(frozen=True)
class MarkResult:
    """What a marking did: the marks recorded (a form sent twice records nothing new)."""

    ids: tuple[int, ...]
    duplicate: bool
    effect: str


def analyst() -> str:
    """Who marks from this terminal: the login name."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def tagger_id(settings: Settings) -> str:
    """The tagger that decided the tags a mark corrects: the topics file's fingerprint."""
    try:
        digest = hashlib.sha256(Path(settings.topics.file).read_bytes()).hexdigest()[:12]
    except OSError:
        digest = "none"
    return f"topics:{digest}"


def _articles(db: Db, ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
    """{id: (story, duplicate_of)} of the ids that exist; MarkError names the others."""
    found = {
        int(i): (int(s), None if d is None else int(d))
        for i, s, d in db.rows(
            "SELECT id, coalesce(story_id, id), duplicate_of FROM articles "
            "WHERE id IN (SELECT unnest(?))",
            [list(ids)],
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise MarkError(f"no article with id {', '.join(map(str, missing))}")
    return found


def _write(warehouse: Warehouse, wait_s: float, work: Callable[[Db], MarkResult]) -> MarkResult:
    with warehouse.transaction(wait_s=wait_s) as db:
        return work(db)


def mark_topic(
    settings: Settings,
    warehouse: Warehouse,
    article_ids: Sequence[int],
    topic: str,
    value: bool | None,
    *,
    by: str,
    via: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> MarkResult:
    """Articles are (True) or are not (False) about a topic, or an earlier mark is withdrawn
    (None). The articles' stored tags follow at once: a mark outranks the rule."""
    slugs = [t.slug for t in load_topics(settings.topics.file, settings.seeds.dir)]
    if topic not in slugs:
        raise MarkError(f"unknown topic {topic!r}; topics: {', '.join(slugs)}")
    tagger = tagger_id(settings)
    now = datetime.now(UTC)

    def work(db: Db) -> MarkResult:
        _articles(db, article_ids)
        seen = {
            int(a): float(s)
            for a, s in db.rows(
                "SELECT article_id, score FROM article_topics WHERE topic = ? "
                "AND article_id IN (SELECT unnest(?))",
                [topic, list(article_ids)],
            )
        }
        marks = [
            mark_store.NewMark(
                "topic",
                value,
                by,
                via,
                article_id=a,
                topic=topic,
                tagger=tagger,
                seen_score=seen.get(a),
                request_id=f"{request_id}:{a}" if request_id else None,
            )
            for a in article_ids
        ]
        ids = mark_store.record(db, marks, now)
        if not ids:
            return MarkResult((), True, "already recorded")
        _set_tags(db, topic, value, dict(zip(article_ids, ids, strict=True)), seen, by)
        _refresh_on_topic(db, article_ids, settings.topics.min_relevance)
        word = {True: "about", False: "not about", None: "no longer marked for"}[value]
        return MarkResult(tuple(ids), False, f"{len(ids)} article(s) marked {word} {topic}")

    return _write(warehouse, wait_s, work)


def _set_tags(
    db: Db,
    topic: str,
    value: bool | None,
    marks: dict[int, int],
    seen: dict[int, float],
    by: str,
) -> None:
    """The marked articles' stored tag for the topic follows the mark ({article: mark id})."""
    for article, mark_id in marks.items():
        if value is True:
            evidence = json.dumps({"marked": "yes", "mark": mark_id, "by": by})
            # A tag the article already has keeps its score and passage and takes the mark as
            # its evidence; else the tag is added (article_topics has no key: migration 0013).
            db.execute(
                "UPDATE article_topics SET evidence = ? WHERE article_id = ? AND topic = ?",
                [evidence, article, topic],
            )
            db.execute(
                "INSERT INTO article_topics (article_id, topic, score, evidence, matched_terms, "
                "passage) SELECT ?, ?, ?, ?, [], NULL WHERE NOT EXISTS (SELECT 1 FROM "
                "article_topics WHERE article_id = ? AND topic = ?)",
                [article, topic, seen.get(article) or 1.0, evidence, article, topic],
            )
        elif value is False:
            db.execute(
                "DELETE FROM article_topics WHERE article_id = ? AND topic = ?", [article, topic]
            )


def _refresh_on_topic(db: Db, ids: Sequence[int], min_relevance: float) -> None:
    # An article is on the theme when it has a topic or is close enough to the seeds, unless
    # it is marked off the theme.
    db.execute(
        "UPDATE articles SET on_topic = (id IN (SELECT article_id FROM article_topics) "
        "OR relevance >= ?) AND id NOT IN (SELECT article_id FROM current_marks "
        "WHERE kind = 'off_theme') WHERE id IN (SELECT unnest(?))",
        [min_relevance, list(ids)],
    )


def mark_off_theme(
    settings: Settings,
    warehouse: Warehouse,
    article_ids: Sequence[int],
    value: bool | None,
    *,
    by: str,
    via: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> MarkResult:
    """Articles are off the theme (nothing for this installation), or no longer marked so."""
    now = datetime.now(UTC)

    def work(db: Db) -> MarkResult:
        _articles(db, article_ids)
        marks = [
            mark_store.NewMark(
                "off_theme",
                True if value else None,
                by,
                via,
                article_id=a,
                tagger=tagger_id(settings),
                request_id=f"{request_id}:{a}" if request_id else None,
            )
            for a in article_ids
        ]
        ids = mark_store.record(db, marks, now)
        if not ids:
            return MarkResult((), True, "already recorded")
        _refresh_on_topic(db, article_ids, settings.topics.min_relevance)
        word = "off the theme" if value else "no longer off the theme"
        return MarkResult(tuple(ids), False, f"{len(ids)} article(s) marked {word}")

    return _write(warehouse, wait_s, work)


def mark_split(
    settings: Settings,
    warehouse: Warehouse,
    article_id: int,
    *,
    by: str,
    via: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> MarkResult:
    """The article is not part of its story: it leaves (its copies with it) and starts its own;
    later decisions do not join it with that story's members again."""
    now = datetime.now(UTC)

    def work(db: Db) -> MarkResult:
        story, original = _articles(db, [article_id])[article_id]
        if original is not None:
            raise MarkError(
                f"article {article_id} is a copy of {original}: a copy follows its original; "
                f"split {original} instead"
            )
        others = db.scalar(
            "SELECT count(*) FROM articles WHERE coalesce(story_id, id) = ? AND id <> ? "
            "AND coalesce(duplicate_of, 0) <> ?",
            [story, article_id, article_id],
        )
        if not others:
            raise MarkError(f"article {article_id} is alone in its story {story}: nothing to split")
        # A story named after this article: the rest keeps a name of its own, its first
        # article's (the mark records the story as the rest now names it).
        rest = story
        if story == article_id:
            rest = int(
                db.scalar(
                    "SELECT min(id) FROM articles WHERE story_id = ? AND id <> ? "
                    "AND coalesce(duplicate_of, 0) <> ?",
                    [story, article_id, article_id],
                )
            )
        mark = mark_store.NewMark(
            "split", True, by, via, article_id=article_id, story_id=rest, request_id=request_id
        )
        ids = mark_store.record(db, [mark], now)
        if not ids:
            return MarkResult((), True, "already recorded")
        db.execute(
            "UPDATE articles SET story_id = ? WHERE id = ? OR duplicate_of = ?",
            [article_id, article_id, article_id],
        )
        if rest != story:
            db.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", [rest, story])
        return MarkResult(tuple(ids), False, f"article {article_id} left story {story}")

    return _write(warehouse, wait_s, work)


def mark_merge(
    settings: Settings,
    warehouse: Warehouse,
    story_a: int,
    story_b: int,
    *,
    by: str,
    via: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> MarkResult:
    """Two stories are one: the later folds into the earlier (recorded in `story_merges` as a
    merge decided by a mark), and later decisions keep them together."""
    if story_a == story_b:
        raise MarkError("give two different stories to merge")
    now = datetime.now(UTC)

    def work(db: Db) -> MarkResult:
        found = {
            int(s): int(first)
            for s, first in db.rows(
                "SELECT coalesce(story_id, id), min(id) FROM articles "
                "WHERE coalesce(story_id, id) IN (?, ?) GROUP BY 1",
                [story_a, story_b],
            )
        }
        missing = [s for s in (story_a, story_b) if s not in found]
        if missing:
            raise MarkError(f"no story {', '.join(map(str, missing))}")
        keep, gone = sorted((story_a, story_b))
        mark = mark_store.NewMark(
            "merge", True, by, via, story_id=keep, other_story_id=gone, request_id=request_id
        )
        ids = mark_store.record(db, [mark], now)
        if not ids:
            return MarkResult((), True, "already recorded")
        db.execute(
            "UPDATE articles SET story_id = ? WHERE coalesce(story_id, id) = ?", [keep, gone]
        )
        db.execute("UPDATE story_merges SET current_id = ? WHERE current_id = ?", [keep, gone])
        db.execute(
            "INSERT OR REPLACE INTO story_merges (story_id, merged_into, current_id, article_id, "
            "merged_at, evidence) VALUES (?, ?, ?, ?, ?, ?)",
            [gone, keep, keep, found[gone], now, json.dumps({"mark": ids[0], "by": by})],
        )
        return MarkResult(tuple(ids), False, f"story {gone} merged into story {keep}")

    return _write(warehouse, wait_s, work)
