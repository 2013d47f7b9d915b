"""Texts of stored articles by id: from the text store beside the warehouse where it holds them
as stored, else from the warehouse (pipeline/store/textstore.py says why both)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_match
from pipeline.store.textstore import TextStore

__all__ = ["content_hashes", "texts", "warehouse_texts"]


def texts(db: Db, ids: Sequence[int], hashes: Mapping[int, str] | None = None) -> dict[int, str]:
    """Texts of some articles by id: from the text store beside the warehouse where it holds
    them as stored (pipeline/store/textstore.py; `hashes`, their content hashes when read
    already), the rest from the warehouse. Ask for the few needed: `articles` has no index
    (migration 0013), and DuckDB reads a text back by decoding the whole vector of 2,048 texts
    it sits in (some 30 ms an article on a database just opened, at 100,000 articles)."""
    if not ids:
        return {}
    kept: dict[int, str] = {}
    if db.path is not None:
        kept = TextStore(db.path).get(hashes if hashes is not None else content_hashes(db, ids))
    missing = [i for i in ids if i not in kept]
    return kept | warehouse_texts(db, missing)


def warehouse_texts(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """Texts of some articles by id, read from the warehouse itself."""
    if not ids:
        return {}
    return {
        int(i): t for i, t in db.rows(f"SELECT id, text FROM articles WHERE {id_match('id', ids)}")
    }


def content_hashes(db: Db, ids: Sequence[int] | None = None) -> dict[int, str]:
    """The content hash of some articles by id (None: of every article)."""
    if ids is not None and not ids:
        return {}
    where = "" if ids is None else f" WHERE {id_match('id', ids)}"
    return {int(i): h for i, h in db.rows(f"SELECT id, content_hash FROM articles{where}")}
