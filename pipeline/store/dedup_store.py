"""Rewriting dedup decisions in place (`newswatch dedup --rebuild`)."""

from __future__ import annotations

from typing import Sequence

from pipeline.models import DedupDecision
from pipeline.store.db import Db


def update_decisions(db: Db, changes: Sequence[tuple[int, DedupDecision]]) -> None:
    """Set duplicate_of, duplicate_similarity, duplicate_kind and story_id of some articles."""
    if not changes:
        return
    db.execute("CREATE TEMP TABLE _new_decisions (id BIGINT, duplicate_of BIGINT, "
               "similarity DOUBLE, kind VARCHAR, story_id BIGINT)")
    try:
        db.insert_columns("_new_decisions", {
            "id": [i for i, _ in changes],
            "duplicate_of": [d.duplicate_of for _, d in changes],
            "similarity": [d.similarity for _, d in changes],
            "kind": [d.kind for _, d in changes],
            "story_id": [d.story_id for _, d in changes]})
        db.execute("UPDATE articles SET duplicate_of = n.duplicate_of, "
                   "duplicate_similarity = n.similarity, duplicate_kind = n.kind, "
                   "story_id = n.story_id FROM _new_decisions n WHERE articles.id = n.id")
    finally:
        db.execute("DROP TABLE IF EXISTS _new_decisions")
