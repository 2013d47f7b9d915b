"""Dedup decisions in the warehouse: rewriting them (`newswatch dedup --rebuild`) and reading each
duplicate beside its original (`newswatch dedup --verify`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pipeline.models import DedupDecision, StoredDuplicate
from pipeline.store.articles import evidence_json
from pipeline.store.db import Db

#: Duplicates read per query: bounds the texts held in memory at once.
_PAGE = 1000


def update_decisions(db: Db, changes: Sequence[tuple[int, DedupDecision]]) -> None:
    """Set duplicate_of, duplicate_similarity, duplicate_kind, story_id and story_evidence of
    some articles."""
    if not changes:
        return
    db.execute(
        "CREATE TEMP TABLE _new_decisions (id BIGINT, duplicate_of BIGINT, "
        "similarity DOUBLE, kind VARCHAR, story_id BIGINT, story_evidence VARCHAR)"
    )
    try:
        db.insert_columns(
            "_new_decisions",
            {
                "id": [i for i, _ in changes],
                "duplicate_of": [d.duplicate_of for _, d in changes],
                "similarity": [d.similarity for _, d in changes],
                "kind": [d.kind for _, d in changes],
                "story_id": [d.story_id for _, d in changes],
                "story_evidence": [evidence_json(d.story_evidence) for _, d in changes],
            },
        )
        db.execute(
            "UPDATE articles SET duplicate_of = n.duplicate_of, "
            "duplicate_similarity = n.similarity, duplicate_kind = n.kind, "
            "story_id = n.story_id, story_evidence = n.story_evidence "
            "FROM _new_decisions n WHERE articles.id = n.id"
        )
    finally:
        db.execute("DROP TABLE IF EXISTS _new_decisions")


def duplicates_with_originals(db: Db) -> Iterator[StoredDuplicate]:
    """Every stored duplicate with its text and the text of the article duplicate_of names
    (None when no such article is stored), in id order."""
    after = 0
    while True:
        # Keyset pages: a large warehouse's duplicates are not all held in memory at once.
        rows = db.rows(
            "SELECT d.id, d.text, d.duplicate_kind, d.duplicate_of, o.text FROM articles d "
            "LEFT JOIN articles o ON o.id = d.duplicate_of "
            "WHERE d.duplicate_of IS NOT NULL AND d.id > ? ORDER BY d.id LIMIT ?",
            [after, _PAGE],
        )
        for aid, text, kind, dup_of, original_text in rows:
            yield StoredDuplicate(int(aid), text, kind, int(dup_of), original_text)
        if len(rows) < _PAGE:
            return
        after = int(rows[-1][0])
