"""Versions of the topics' learned models (`topic_models`): storing one, reading the current ones,
and the newest mark of each topic (what tells that a model is out of date)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.store.db import Db
from pipeline.store.lake import has_table

#: The topic name of the theme's model (learned from off-theme marks); no slug starts with "_".
THEME = "_theme"


@dataclass(frozen=True)
class ModelRow:
    """One stored version of a topic's model."""

    topic: str
    version: int
    trained_at: datetime
    marks: int
    yes: int
    no: int
    last_mark: int
    learner: str
    parameters: bytes | None
    figures: dict[str, Any]


def add(
    db: Db,
    *,
    topic: str,
    trained_at: datetime,
    marks: int,
    yes: int,
    no: int,
    last_mark: int,
    learner: str,
    parameters: bytes | None,
    figures: dict[str, Any],
) -> int:
    """Store a new version of a topic's model (call inside a transaction); its version number."""
    version = int(
        db.scalar("SELECT coalesce(max(version), 0) + 1 FROM topic_models WHERE topic = ?", [topic])
    )
    db.execute(
        "INSERT INTO topic_models (topic, version, trained_at, marks, yes, no, last_mark, "
        "learner, parameters, figures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            topic,
            version,
            trained_at,
            marks,
            yes,
            no,
            last_mark,
            learner,
            parameters,
            json.dumps(figures),
        ],
    )
    return version


def has_models(db: Db) -> bool:
    """Whether the warehouse has topic_models (a file older than migration 0012 has none)."""
    return has_table(db, "topic_models")


def _row(r: tuple) -> ModelRow:
    return ModelRow(
        str(r[0]),
        int(r[1]),
        r[2],
        int(r[3]),
        int(r[4]),
        int(r[5]),
        int(r[6]),
        str(r[7]),
        None if r[8] is None else bytes(r[8]),
        json.loads(r[9] or "{}"),
    )


_COLUMNS = "topic, version, trained_at, marks, yes, no, last_mark, learner, parameters, figures"


def current(db: Db, topic: str | None = None) -> dict[str, ModelRow]:
    """The newest version of each topic's model (or of one topic), by topic."""
    rows = db.rows(
        f"SELECT {_COLUMNS} FROM topic_models WHERE (CAST(? AS VARCHAR) IS NULL OR topic = ?) "
        "QUALIFY row_number() OVER (PARTITION BY topic ORDER BY version DESC) = 1",
        [topic, topic],
    )
    return {str(r[0]): _row(r) for r in rows}


def versions(db: Db) -> tuple[tuple[str, int], ...]:
    """(topic, newest version) of every topic with a model: what tells a reader to reload."""
    return tuple(
        (str(t), int(v))
        for t, v in db.rows("SELECT topic, max(version) FROM topic_models GROUP BY 1 ORDER BY 1")
    )


def history(db: Db, topic: str) -> list[dict[str, Any]]:
    """Every version of a topic's model, newest first, without its parameters."""
    return db.dicts(
        "SELECT topic, version, trained_at, marks, yes, no, last_mark, learner, figures "
        "FROM topic_models WHERE topic = ? ORDER BY version DESC",
        [topic],
    )


def newest_marks(db: Db) -> dict[str, int]:
    """The newest mark's id per topic (withdrawn marks too), the theme's under THEME."""
    out = {
        str(t): int(m)
        for t, m in db.rows("SELECT topic, max(id) FROM marks WHERE kind = 'topic' GROUP BY topic")
    }
    theme = db.scalar("SELECT max(id) FROM marks WHERE kind = 'off_theme'")
    if theme is not None:
        out[THEME] = int(theme)
    return out


def stale_topics(db: Db, slugs: Sequence[str], learner: str) -> list[str]:
    """Topics (and THEME) with a mark made or withdrawn since their current model, or whose
    current model was trained by another learner than `learner` (it is no longer applied)."""
    newest = newest_marks(db)
    have = current(db)
    out = []
    for slug in [*slugs, THEME]:
        last = newest.get(slug, 0)
        model = have.get(slug)
        if (
            (model is None and last > 0)
            or (model is not None and last > model.last_mark)
            or (model is not None and model.learner not in (learner, "none"))
        ):
            out.append(slug)
    return out
