"""The chunk vector index the ingest saves beside the warehouse, mapped read-only for search.

The dedup keeps the chunk vectors of every English article in an HNSW graph (usearch, float16)
and the ingest saves it beside the warehouse with a description: model, dimension, rows, highest
article id, the file's SHA-256 (pipeline/dedup/vectorfile.py). A search maps that file read-only
(`Index.restore(view=True)`: nothing is copied or written and no lock is taken; the ingest
replaces the file by a rename, and a mapping goes on reading the file it opened), asks it for the
query's nearest chunks and keeps the best chunk of each article found. Up to a million chunks
the file's vectors are all compared with the query (usearch's exact search: SIMD over float16,
a tenth of DuckDB's time for the same scan, and exact where the graph is not); beyond, the graph
is searched.

The file is used only whole and made for the query's model: a description of this format naming
the model, at least `[dedup] vector_index_min_rows` chunks (below, exact search is as fast), no
article id above the warehouse's highest, and the very file the description was written with, or
else one of the SHA-256 described (pipeline/dedup/vectorfile.py; checked once per file and
process; a file the ingest replaced is checked in the background while the one mapped before
answers). Anything else, and the caller searches exactly; a DEBUG message says why.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.dedup.native import usearch_index
from pipeline.dedup.vectorfile import index_paths, is_described, read_description
from pipeline.dedup.vectorindex import _CHUNK_BITS
from pipeline.models.vectors import PRECISION_SEPARATOR
from pipeline.store import articles as article_store
from pipeline.store import searchvectors as vector_store
from pipeline.store.db import Db

log = logging.getLogger(__name__)


@dataclass
class SavedChunks:
    """A saved chunk vector index, mapped read-only, and what it holds."""

    graph: Any  # a usearch Index viewing the file
    model: str
    dim: int
    max_owner: int
    owners: np.ndarray  # article ids held, ascending
    counts: np.ndarray  # chunks held of each
    #: The articles up to max_owner with chunk vectors the file does not hold, and their rows
    #: when few enough to keep (read by the first search that needs them).
    left_out: tuple[np.ndarray, vector_store.ChunkRows | None] | None = field(default=None)
    #: The chunk rows of the articles stored since the file was saved, as far as they were read
    #: (the highest article id read, the rows), kept between searches while few enough.
    newer: tuple[int, vector_store.ChunkRows] | None = field(default=None)

    @property
    def rows(self) -> int:
        """Chunk vectors held."""
        return int(self.counts.sum())

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Which of these article ids the file holds (a boolean mask)."""
        if self.owners.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        at = np.minimum(np.searchsorted(self.owners, ids), self.owners.size - 1)
        return np.asarray(self.owners[at] == ids)

    def chunks_of(self, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every chunk of these held articles: article ids, chunk numbers, graph keys."""
        counts = self.counts[np.searchsorted(self.owners, owners)]
        ids = np.repeat(owners, counts)
        numbers = np.arange(ids.size, dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        keys = (ids.astype(np.uint64) << np.uint64(_CHUNK_BITS)) + numbers.astype(np.uint64)
        return ids, numbers, keys


_lock = threading.Lock()


#: Index files mapped by this process: path -> (the files' identity, the mapping or None).
_opened: dict[str, tuple[tuple[int, ...], SavedChunks | None]] = {}


#: Files replaced since they were mapped, being read in the background: path -> its thread.
_reading: dict[str, threading.Thread] = {}


def bare_model(model: str) -> str:
    """A stored vector name's model, without its precision (`<model>#int8` -> `<model>`)."""
    return model.split(PRECISION_SEPARATOR, 1)[0]


def _identity(path: Path, info_path: Path) -> tuple[int, ...] | None:
    """What changes when the ingest writes the files again (None: one is missing)."""
    try:
        a, b = path.stat(), info_path.stat()
    except OSError:
        return None
    return (a.st_ino, a.st_size, a.st_mtime_ns, b.st_ino, b.st_size, b.st_mtime_ns)


def saved_chunks(db: Db, model: str, min_rows: int) -> SavedChunks | None:
    """The saved chunk vector index of the open warehouse if it can be trusted for vectors of
    `model` (see the module docstring), else None with a DEBUG message saying why."""
    name = vector_store.database_file(db)
    if name is None:
        log.debug("meaning searched exactly: a warehouse in memory has no saved vector index")
        return None
    saved = saved_beside(Path(name), model, min_rows)
    if saved is not None and saved.max_owner > article_store.max_article_id(db):
        log.debug(
            "meaning searched exactly, not through the file beside %s: it holds articles the "
            "warehouse does not (it was made for another one)",
            name,
        )
        return None
    return saved


def saved_beside(warehouse: Path, model: str, min_rows: int) -> SavedChunks | None:
    """The saved chunk vector index beside a warehouse file if it is whole and made for `model`
    with at least `min_rows` chunks (what can be checked without opening the warehouse; the
    warehouse must still hold its highest article: `saved_chunks`), else None."""
    path, info_path = index_paths(warehouse)
    identity = _identity(path, info_path)
    if identity is None:
        log.debug("meaning searched exactly: no saved chunk vector index at %s", path)
        return None
    saved = _mapped(path, info_path, identity)
    if saved is None:
        return None
    why = ""
    if saved.model != bare_model(model):
        why = f"it holds vectors of {saved.model}, the query's are of {bare_model(model)}"
    elif saved.rows < min_rows:
        why = f"{saved.rows} chunks, fewer than [dedup] vector_index_min_rows ({min_rows})"
    if why:
        log.debug("meaning searched exactly, not through %s: %s", path, why)
        return None
    return saved


def _mapped(path: Path, info_path: Path, identity: tuple[int, ...]) -> SavedChunks | None:
    """The mapping of the file as it is now. The first one is read at once; a file the ingest
    replaced is read in the background (its checksum takes a second per 500 MB), and until then
    the file mapped before answers: it still reads the old file, and what was stored since is
    scored exactly."""
    key = str(path)
    with _lock:
        cached = _opened.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        if cached is not None and cached[1] is not None:
            if key not in _reading:
                thread = threading.Thread(
                    target=_read_replaced,
                    args=(key, path, info_path, identity),
                    name="newswatch-vector-index",
                    daemon=True,
                )
                _reading[key] = thread
                thread.start()
            return cached[1]
        saved = _open(path, info_path)
        _opened[key] = (identity, saved)
        return saved


def _read_replaced(key: str, path: Path, info_path: Path, identity: tuple[int, ...]) -> None:
    saved = None
    try:
        saved = _open(path, info_path)
    finally:
        with _lock:
            _opened[key] = (identity, saved)
            _reading.pop(key, None)


def _open(path: Path, info_path: Path) -> SavedChunks | None:
    """Map the file if its description vouches for it (see `saved_chunks`)."""
    Index = usearch_index()  # its native library: only a search through the file loads it

    described = read_description(info_path)
    if described is None:
        log.debug("meaning searched exactly: %s is no description of this format", info_path)
        return None
    try:
        if not is_described(path, described):
            raise ValueError("its SHA-256 is not the one described (written since, or damaged)")
        graph: Any = Index.restore(str(path), view=True)
        if graph is None:
            raise ValueError("not a usearch index")
        if len(graph) != int(described["rows"]) or graph.ndim != int(described["dim"]):
            raise ValueError(f"{len(graph)} vectors of {graph.ndim}, not as described")
        keys = np.asarray(graph.keys, dtype=np.uint64)
        # A mapped graph starts with usearch's default; search as the dedup does.
        params = described.get("params") or {}
        if "expansion_search" in params:
            graph.expansion_search = int(params["expansion_search"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        log.debug("meaning searched exactly: chunk vector index %s unusable: %s", path, exc)
        return None
    owners, counts = np.unique(
        (keys >> np.uint64(_CHUNK_BITS)).astype(np.int64), return_counts=True
    )
    log.debug(
        "chunk vector index %s mapped: %d chunks of %d articles", path, keys.size, owners.size
    )
    return SavedChunks(
        graph,
        str(described["model"]),
        int(described["dim"]),
        int(described["max_owner"]),
        owners,
        counts.astype(np.int64),
    )


def forget_mapped() -> None:
    """Drop the index files this process mapped, once the ones being read are (the next search
    maps them again)."""
    settle()
    with _lock:
        _opened.clear()


def settle(timeout: float | None = None) -> None:
    """Wait for the replaced index files being read in the background."""
    with _lock:
        threads = list(_reading.values())
    for thread in threads:
        thread.join(timeout)
