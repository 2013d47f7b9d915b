"""The stored articles' texts kept again beside the warehouse, for reading a few by id.

Why a second copy: DuckDB keeps a column in vectors of 2,048 rows and reads one text back by
decoding the whole vector that holds it. On a warehouse of 100,000 articles the 20 texts a
search page shows its passages from cost 200-600 ms (more on a database just opened, as every
page's is), the largest part of a search. A key would find them, but a key on a table each
batch appends to makes every batch's checkpoint rewrite it (migration 0013: 1.6 s instead of
70 ms a batch for a table of 100,000 texts). SQLite (the standard library's) reads a row by its
integer key in microseconds and appends a batch in milliseconds, without holding the warehouse.

It is a cache, never a record: `<warehouse>.texts.sqlite`, one row per article (id, the
warehouse's content hash, the text compressed). A text is used only while its hash is the
warehouse's (an edited seed, another warehouse at the same path: read from the warehouse), and
anything missing, locked or unreadable is read from the warehouse. The writer adds each batch
once it is committed; `newswatch init` and the daily maintenance add what is missing and drop
what the warehouse no longer holds (`pipeline/ingest/upkeep.py`). Readers open it read-only
(`mode=ro`: a read-only command creates no file and writes none).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from pipeline.errors import NewswatchError
from pipeline.models import StoredArticle

log = logging.getLogger(__name__)

#: Bumped when the layout changes: a store of another version is built again.
FORMAT = 1
#: zlib level: texts compress to about half; level 6 costs some 0.1 ms a text.
_LEVEL = 6
#: How long a reader waits for a batch being added, and a writer for readers (seconds).
_READ_WAIT_S = 0.5
_WRITE_WAIT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class TextStoreError(NewswatchError):
    """The text store could not be read or written (the warehouse answers meanwhile)."""


def store_path(warehouse: Path) -> Path:
    """The text store beside a warehouse file."""
    return warehouse.with_name(warehouse.name + ".texts.sqlite")


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps([int(i) for i in ids])


class TextStore:
    """The text store of one warehouse file."""

    def __init__(self, warehouse: Path) -> None:
        self.path = store_path(Path(warehouse))

    def _reader(self) -> sqlite3.Connection:
        # mode=ro: never creates the file or anything beside it.
        return sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=_READ_WAIT_S
        )

    def _writer(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=_WRITE_WAIT_S)
        con.executescript(_SCHEMA)
        found = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if found is None or found[0] != str(FORMAT):
            with con:
                con.execute("DELETE FROM texts")
                con.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", [str(FORMAT)])
        return con

    def get(self, hashes: Mapping[int, str]) -> dict[int, str]:
        """The texts of these articles (id -> the warehouse's content hash) whose kept hash is
        the warehouse's; the others are left out (read them from the warehouse)."""
        if not hashes or not self.path.is_file():
            return {}
        try:
            with closing(self._reader()) as con:
                rows = con.execute(
                    "SELECT id, hash, body FROM texts WHERE id IN (SELECT value FROM json_each(?))",
                    [_ids_json(hashes)],
                ).fetchall()
            return {
                int(i): zlib.decompress(body).decode("utf-8")
                for i, digest, body in rows
                if hashes.get(int(i)) == digest
            }
        except (sqlite3.Error, zlib.error, UnicodeDecodeError) as exc:
            log.debug("text store %s unreadable (%s); read from the warehouse", self.path, exc)
            return {}

    def put(self, rows: Iterable[tuple[int, str, str]]) -> int:
        """Keep (id, content hash, text) rows, replacing kept ones; one transaction
        (TextStoreError when the file cannot be written)."""
        packed = [(int(i), h, zlib.compress(t.encode("utf-8"), _LEVEL)) for i, h, t in rows]
        if not packed:
            return 0
        try:
            with closing(self._writer()) as con, con:
                con.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?, ?)", packed)
        except (sqlite3.Error, OSError) as exc:
            raise TextStoreError(f"text store {self.path} not written: {exc}") from None
        return len(packed)

    def count(self) -> int:
        """How many texts are kept (0 without a store, or with one that cannot be read)."""
        if not self.path.is_file():
            return 0
        try:
            with closing(self._reader()) as con:
                return int(con.execute("SELECT count(*) FROM texts").fetchone()[0])
        except sqlite3.Error:
            return 0

    def hashes(self) -> dict[int, str]:
        """Every kept article's content hash (empty when there is no store, or not this
        format's)."""
        if not self.path.is_file():
            return {}
        try:
            with closing(self._writer()) as con:
                return {int(i): h for i, h in con.execute("SELECT id, hash FROM texts")}
        except (sqlite3.Error, OSError) as exc:
            raise TextStoreError(f"text store {self.path} not read: {exc}") from None

    def forget(self, ids: Sequence[int]) -> None:
        """Drop the texts of these articles."""
        if ids and self.path.is_file():
            try:
                with closing(self._writer()) as con, con:
                    con.execute(
                        "DELETE FROM texts WHERE id IN (SELECT value FROM json_each(?))",
                        [_ids_json(ids)],
                    )
            except (sqlite3.Error, OSError) as exc:
                raise TextStoreError(f"text store {self.path} not written: {exc}") from None

    def healthy(self) -> bool:
        """Whether the file is absent or a readable SQLite database (`quick_check`)."""
        if not self.path.is_file():
            return True
        try:
            with closing(sqlite3.connect(self.path, timeout=_WRITE_WAIT_S)) as con:
                return bool(con.execute("PRAGMA quick_check").fetchone()[0] == "ok")
        except sqlite3.Error:
            return False

    def remove(self) -> None:
        """Delete the store (a damaged one, to be built again)."""
        try:
            for path in (self.path, self.path.with_name(self.path.name + "-journal")):
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise TextStoreError(f"text store {self.path} not removed: {exc}") from None


def keep_committed(warehouse: Path, articles: Sequence[StoredArticle]) -> None:
    """Keep the texts of articles just committed to the warehouse. A failure is logged, not
    raised: those texts are read from the warehouse meanwhile, and `init` or the daily
    maintenance adds them."""
    try:
        TextStore(warehouse).put((a.id, a.content_hash, a.draft.text) for a in articles)
    except TextStoreError as exc:
        log.warning("%s; its texts are read from the warehouse", exc)
