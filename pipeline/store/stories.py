"""Story merges in the warehouse: recording them as they are decided, replacing them all after a
rebuild, and reading what `newswatch explain` shows about an article's story."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.models import StoryEvidence, merge_evidence, story_evidence_from_json
from pipeline.store.db import Db


def record_merges(db: Db, merges: Sequence[tuple[int, int, int, StoryEvidence | None]]) -> None:
    """Apply merges decided by new articles (call inside a transaction, after inserting them).

    `merges`: (article id, surviving story, merged story, the article's story evidence), in
    decision order. Every article of a merged story takes the surviving story's id, and earlier
    merges into the merged story now point at the survivor too.
    """
    now = datetime.now(UTC)
    for article_id, into, story, evidence in merges:
        db.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", [into, story])
        db.execute("UPDATE story_merges SET current_id = ? WHERE current_id = ?", [into, story])
        detail = merge_evidence(evidence, story)
        db.execute(
            "INSERT OR REPLACE INTO story_merges (story_id, merged_into, current_id, "
            "article_id, merged_at, evidence) VALUES (?, ?, ?, ?, ?, ?)",
            [
                story,
                into,
                into,
                article_id,
                now,
                json.dumps(detail.to_json(), default=str) if detail else None,
            ],
        )


def replace_merges(db: Db, merges: Sequence[tuple[int, int, int, int, str | None]]) -> None:
    """Replace every recorded merge (after `newswatch dedup --rebuild`): rows of (story,
    merged into, current story, article, evidence JSON)."""
    db.execute("DELETE FROM story_merges")
    now = datetime.now(UTC)
    for story, into, current, article_id, evidence in merges:
        db.execute(
            "INSERT INTO story_merges (story_id, merged_into, current_id, article_id, "
            "merged_at, evidence) VALUES (?, ?, ?, ?, ?, ?)",
            [story, into, current, article_id, now, evidence],
        )


def story_rows(db: Db, article_id: int) -> dict[str, Any] | None:
    """An article's stored story evidence, its story's size and the merges into that story."""
    row = db.one("SELECT story_id, story_evidence FROM articles WHERE id = ?", [article_id])
    if row is None:
        return None
    story, evidence = row
    size = db.one(
        "SELECT count(*), count(*) FILTER (WHERE duplicate_of IS NULL) FROM articles "
        "WHERE story_id = ?",
        [story],
    ) or (0, 0)
    merges = db.dicts(
        "SELECT story_id, merged_into, article_id, merged_at, evidence "
        "FROM story_merges WHERE current_id = ? OR article_id = ? "
        "ORDER BY merged_at, story_id",
        [story, article_id],
    )
    return {
        "story_id": story,
        "evidence": story_evidence_from_json(json.loads(evidence)) if evidence else None,
        "articles": int(size[0]),
        "originals": int(size[1]),
        "merges": merges,
    }
