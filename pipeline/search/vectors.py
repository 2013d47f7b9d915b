"""Meaning through the chunk vector index the ingest saves beside the warehouse.

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
article id above the warehouse's highest, and the file's SHA-256 as described (read once per file
and process; a file the ingest replaced is read in the background while the one mapped before
answers). Anything else, and the caller searches exactly; a DEBUG message says why.

Nothing stored is missed: the articles the file does not hold are scored exactly from the
warehouse's vectors, those stored after it was saved (ids above its highest: one range, which
the scan reads alone) and the earlier ones the dedup leaves out (articles not in English: read
once per file and process, as they cannot change while the file does not).

Filters: the nearest chunks are asked for in proportion to the share of articles that pass
(`depth` of them must be found), four times as many again while too few pass; a filter that
leaves few articles has each of them scored.

The cosines of the articles the file holds are computed from its float16 vectors, over every
chunk of each article found: within 5e-5 of the warehouse's float32 cosines with the shipped
model (the shared news pages), so ranks, floors and passages can differ from exact search only
between articles (or chunks) that close. Reading the warehouse's own vectors would cost what the
index saves: DuckDB reads one article's FLOAT[] rows in some milliseconds (it decompresses the
list column up to them), a hundred scattered articles in the time of the full scan.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.dedup.native import usearch_index
from pipeline.dedup.vectorfile import file_checksum, index_paths, read_description
from pipeline.dedup.vectorindex import _CHUNK_BITS
from pipeline.models import MeaningHit, SearchFilters
from pipeline.models.vectors import PRECISION_SEPARATOR
from pipeline.store import articles as article_store
from pipeline.store import search as search_store
from pipeline.store.db import Db

log = logging.getLogger(__name__)

#: The vector table the saved index holds chunks of.
TABLE = "chunk_embeddings"
#: Below this many chunks the file's vectors are all compared with the query (float16, in SIMD
#: on every core: about 90 ms at 680,000 chunks on the 2-core development machine), from it on the
#: HNSW graph is searched. On bench/search_eval.py's synthetic warehouses (hundreds of noisy
#: copies of each text) the graph's top 100 articles hold 63 % of the true ones for 400 nearest
#: chunks asked, 96 % for 6,400 and 99 % for 25,600 (50 ms): only a scan is exact at that size.
_SCAN_BELOW_ROWS = 1_000_000
#: Nearest chunks asked for, per article wanted: a scan's are exact, and an article's chunks
#: often come together; the graph's are approximate, and more of them are asked for.
_SCAN_K_PER_ARTICLE = 4
_GRAPH_K_PER_ARTICLE = 64
#: Fewest nearest chunks asked for (no faster for fewer).
_MIN_K = 256
#: Most nearest chunks asked of the graph; more are found by a scan (at 680,000 chunks the graph
#: answers 6,400 in 11 ms, 32,768 in 166 ms; the scan 90 ms).
_MAX_GRAPH_K = 32768
#: A filter fewer articles pass has each of them scored (a few thousand chunks: tens of ms).
_SCORE_EACH_BELOW = 2000
#: Most chunk rows of the articles the file leaves out kept in memory between searches (150 MB
#: at 384 dimensions); more are read again by each search.
_KEEP_LEFT_OUT_ROWS = 100_000


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
    left_out: tuple[np.ndarray, search_store.ChunkRows | None] | None = field(default=None)

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
    name = search_store.database_file(db)
    if name is None:
        log.debug("meaning searched exactly: a warehouse in memory has no saved vector index")
        return None
    path, info_path = index_paths(Path(name))
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
    elif saved.max_owner > article_store.max_article_id(db):
        why = "it holds articles the warehouse does not (it was made for another one)"
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
        if file_checksum(path) != described["sha256"]:
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


# -- ranking -------------------------------------------------------------------------------------


def _cosines(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    if vectors.size == 0:
        return np.zeros(0, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1) * float(np.linalg.norm(query))
    return np.asarray(vectors @ query / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _best_rows(ids: np.ndarray, chunk_nos: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """The row of each article's best chunk (ties: its first chunk, as in SQL's arg_max)."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((chunk_nos, -sims, ids))
    first = np.r_[True, ids[order][1:] != ids[order][:-1]]
    return np.asarray(order[first], dtype=np.int64)


@dataclass(frozen=True)
class _Best:
    """Articles with their best chunk: cosine, chunk number, span (-1 when not read yet)."""

    ids: np.ndarray
    sims: np.ndarray
    chunk_nos: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @staticmethod
    def of_rows(rows: search_store.ChunkRows, query: np.ndarray) -> _Best:
        """Chunk rows read from the warehouse, scored exactly."""
        sims = _cosines(rows.vectors, query)
        pick = _best_rows(rows.article_ids, rows.chunk_nos, sims)
        return _Best(
            rows.article_ids[pick],
            sims[pick],
            rows.chunk_nos[pick],
            rows.starts[pick],
            rows.ends[pick],
        )

    def where(self, keep: np.ndarray) -> _Best:
        """Only some of these articles."""
        return _Best(
            self.ids[keep],
            self.sims[keep],
            self.chunk_nos[keep],
            self.starts[keep],
            self.ends[keep],
        )


def _concat(parts: list[_Best]) -> _Best:
    return _Best(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _Best.__dataclass_fields__)
    )


def _score_held(saved: SavedChunks, owners: np.ndarray, query: np.ndarray) -> _Best:
    """Every chunk of these held articles against the query, from the file's vectors."""
    ids, numbers, keys = saved.chunks_of(owners)
    vectors = np.zeros((0, saved.dim), dtype=np.float32)
    if keys.size:
        got = saved.graph.get(keys, dtype=np.float32)
        vectors = np.asarray(got, dtype=np.float32).reshape(keys.size, saved.dim)
    sims = _cosines(vectors, query)
    pick = _best_rows(ids, numbers, sims)
    unread = np.full(pick.size, -1, dtype=np.int64)
    return _Best(ids[pick], sims[pick], numbers[pick], unread, unread.copy())


def _left_out(
    db: Db, saved: SavedChunks, model: str
) -> tuple[np.ndarray, search_store.ChunkRows | None]:
    """The articles up to the file's highest id with chunk vectors it does not hold, and their
    rows when few enough to keep (read once per mapped file)."""
    if saved.left_out is None:
        stored = search_store.articles_with_chunks(db, model, up_to=saved.max_owner)
        ids = stored[~saved.holds(stored)]
        rows = None
        if ids.size and ids.size * float(saved.counts.mean()) <= _KEEP_LEFT_OUT_ROWS:
            rows = search_store.chunk_rows(db, model, ids=ids.tolist())
        saved.left_out = (ids, rows)
    return saved.left_out


def _score_unheld(
    db: Db, saved: SavedChunks, model: str, query: np.ndarray, filters: SearchFilters
) -> _Best:
    """The articles the file does not hold that pass the filters, scored exactly."""
    newer = search_store.chunk_rows(db, model, after=saved.max_owner, filters=filters)
    parts = [_Best.of_rows(newer, query)]
    ids, rows = _left_out(db, saved, model)
    if ids.size:
        if rows is None:
            rows = search_store.chunk_rows(db, model, ids=ids.tolist(), filters=filters)
        earlier = _Best.of_rows(rows, query)
        passing = search_store.filtered_ids(db, earlier.ids.tolist(), filters)
        parts.append(earlier.where(np.isin(earlier.ids, list(passing))))
    return _concat(parts)


def _scans(saved: SavedChunks, k: int) -> bool:
    """Whether k nearest chunks are found by comparing every vector of the file (else through
    the graph)."""
    return saved.rows < _SCAN_BELOW_ROWS or k > _MAX_GRAPH_K


def _nearest_owners(saved: SavedChunks, query: np.ndarray, k: int) -> np.ndarray:
    """The articles of the query's k nearest chunks, nearest first."""
    found = saved.graph.search(query, k, exact=_scans(saved, k))
    owners = (np.asarray(found.keys, dtype=np.uint64) >> np.uint64(_CHUNK_BITS)).astype(np.int64)
    _, first = np.unique(owners, return_index=True)
    return np.asarray(owners[np.sort(first)])


def _held_candidates(
    db: Db, saved: SavedChunks, query: np.ndarray, filters: SearchFilters, depth: int
) -> np.ndarray:
    """Held articles that pass the filters, among them the `depth` nearest the query: the
    nearest chunks are asked for in proportion to the share of articles passing, and again four
    times as many while fewer than `depth` of their articles pass (deleted ones do not)."""
    share = 1.0
    if filters != SearchFilters():
        passing = search_store.count_articles(db, filters)
        if passing < _SCORE_EACH_BELOW:
            ids = np.asarray(search_store.passing_ids(db, filters), dtype=np.int64)
            return ids[saved.holds(ids)]
        share = passing / max(1, search_store.count_articles(db))
    per_article = _SCAN_K_PER_ARTICLE if _scans(saved, 0) else _GRAPH_K_PER_ARTICLE
    k = max(_MIN_K, math.ceil(depth * per_article / share))
    while True:
        k = min(k, saved.rows)
        owners = _nearest_owners(saved, query, k)
        kept = search_store.filtered_ids(db, owners.tolist(), filters)
        owners = owners[np.isin(owners, list(kept))]
        if owners.size >= depth or k >= saved.rows:
            return owners
        k *= 4


def ranking(
    db: Db,
    saved: SavedChunks,
    vector: np.ndarray,
    model: str,
    *,
    filters: SearchFilters = SearchFilters(),
    depth: int = 100,
) -> list[MeaningHit]:
    """Articles by the cosine of their closest chunk to `vector`, best first, with that chunk's
    span: the articles the file holds through it, the others exactly (see the module doc)."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    held = _score_held(saved, _held_candidates(db, saved, query, filters, depth), query)
    best = _concat([held, _score_unheld(db, saved, model, query, filters)])
    top = best.where(np.lexsort((best.ids, -best.sims))[:depth])
    unread = top.starts < 0
    spans = search_store.chunk_spans(
        db, model, list(zip(top.ids[unread].tolist(), top.chunk_nos[unread].tolist(), strict=True))
    )
    hits = []
    for aid, sim, number, start, end in zip(
        top.ids.tolist(),
        top.sims.tolist(),
        top.chunk_nos.tolist(),
        top.starts.tolist(),
        top.ends.tolist(),
        strict=True,
    ):
        if start < 0:
            found = spans.get((aid, number))
            if found is None:
                continue  # no longer stored with vectors of this model
            start, end = found
        hits.append(MeaningHit(aid, sim, start, end, source=TABLE))
    return hits
