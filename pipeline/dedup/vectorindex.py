"""Chunk vectors of stored articles, searched by cosine range: every stored chunk at or above a
floor, for a batch of query chunks.

Small sets are searched exactly (one float32 matrix product per block: below some tens of
thousands of rows nothing is faster). From `exact_below` rows on, the vectors move into an HNSW
graph (usearch), stored as float16 — half the memory of float32, and no float32 copy is kept
beside it — and searched approximately. HNSW answers top-k, not a range, so the search is
adaptive: a query whose k-th neighbour is still above the floor is asked again with 4 k, until
its last neighbour falls below the floor or every row has been returned.

The graph is persisted beside the warehouse (`save`/`load`, pipeline/dedup/vectorfile.py): the
usearch file and a small JSON saying what it holds (model, dimension, rows, highest article id,
SHA-256 of the file). A file that is missing, fails its checksum, or was made for another model
or dimension loads as None, and the caller rebuilds from the stored chunk vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.dedup.native import usearch_index
from pipeline.dedup.vectorfile import index_paths, read_graph, write_graph

__all__ = ["MAX_K", "VectorIndex", "index_paths"]

log = logging.getLogger(__name__)

#: Stored rows compared per matrix product in exact mode (bounds the temporary matrix).
_BLOCK_ROWS = 32768
#: A key is the article id shifted left by this, plus the chunk number ([embed] max_chunks is at
#: most 100000).
_CHUNK_BITS = 20
#: First k of the adaptive search; most queries have few neighbours at the floor and stop there.
_FIRST_K = 16
#: Most neighbours one query keeps in the HNSW search (its nearest): a chunk on a much-covered
#: subject can have thousands of weak ones at a low floor (`story_support_similarity`), and asking
#: for all of them would cost a linear scan; the candidate and story hits, nearest first, are kept.
MAX_K = 1024

_Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # query rows, owners, cosines


class VectorIndex:
    """Chunk vectors with the article (owner) of each; exact below `exact_below` rows, HNSW
    (float16) from there on."""

    def __init__(
        self,
        dim: int,
        *,
        exact_below: int,
        connectivity: int = 16,
        expansion_add: int = 64,
        expansion_search: int = 96,
    ) -> None:
        self.dim = dim
        self.exact_below = exact_below
        self._params: dict[str, Any] = dict(
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        self._counts: dict[int, int] = {}  # owner -> chunk rows held
        self._matrix = np.zeros((0, dim), dtype=np.float32)  # exact mode only
        self._owner = np.zeros(0, dtype=np.int64)
        self._used = 0  # rows of _matrix in use (incl. removed)
        self._graph: Any = None  # usearch Index once large
        self.max_owner = 0
        self.rows = 0  # chunk rows held (removed ones not counted)
        self.version = 0  # changes on every add and remove: whether a save is due

    # -- contents --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Chunk rows held (removed ones not counted)."""
        return self.rows

    @property
    def approximate(self) -> bool:
        """Whether searches go through the HNSW graph (else exact)."""
        return self._graph is not None

    def holds(self, owner: int) -> bool:
        """Whether this article's chunks are in the index."""
        return owner in self._counts

    def owners(self) -> set[int]:
        """The articles whose chunks the index holds."""
        return set(self._counts)

    def add(self, owner: int, vectors: np.ndarray) -> None:
        """Add an article's chunk vectors (unit length, shape (n, dim))."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n = vectors.shape[0]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"chunk vectors of shape {vectors.shape}, index dimension {self.dim}")
        if n == 0:
            return
        if n >= 1 << _CHUNK_BITS:
            raise ValueError(f"{n} chunks in one article: at most {(1 << _CHUNK_BITS) - 1}")
        if owner in self._counts:
            self.remove([owner])
        self._counts[owner] = n
        self.rows += n
        self.version += 1
        self.max_owner = max(self.max_owner, owner)
        if self._graph is not None:
            self._graph.add(self._keys(owner, n), vectors, threads=0)
            return
        if self._used + n > self._matrix.shape[0]:
            capacity = max(self._used + n, 2 * self._matrix.shape[0], 1024)
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[: self._used] = self._matrix[: self._used]
            owners = np.full(capacity, -1, dtype=np.int64)
            owners[: self._used] = self._owner[: self._used]
            self._matrix, self._owner = grown, owners
        self._matrix[self._used : self._used + n] = vectors
        self._owner[self._used : self._used + n] = owner
        self._used += n
        if self.size >= self.exact_below:
            self._to_graph()

    def add_many(self, owners: np.ndarray, counts: np.ndarray, vectors: np.ndarray) -> None:
        """Add several articles at once: `counts[i]` consecutive rows of `vectors` per owner."""
        if self._graph is None and self.size + vectors.shape[0] < self.exact_below:
            start = 0
            for owner, n in zip(owners.tolist(), counts.tolist(), strict=True):
                self.add(owner, vectors[start : start + n])
                start += n
            return
        if self._graph is None:
            self._to_graph()
        held = [o for o in owners.tolist() if o in self._counts]
        if held:
            self.remove(held)
        keys = np.concatenate(
            [self._keys(o, n) for o, n in zip(owners.tolist(), counts.tolist(), strict=True)]
        )
        self._graph.add(keys, np.ascontiguousarray(vectors, dtype=np.float32), threads=0)
        for o, n in zip(owners.tolist(), counts.tolist(), strict=True):
            self._counts[o] = n
        self.rows += int(counts.sum())
        self.version += 1
        self.max_owner = max(self.max_owner, int(owners.max(initial=0)))

    def remove(self, owners: Iterable[int]) -> None:
        """Forget these articles' chunks (ids not held are ignored)."""
        gone = {o: self._counts.pop(o) for o in owners if o in self._counts}
        if not gone:
            return
        self.rows -= sum(gone.values())
        self.version += 1
        if self._graph is not None:
            self._graph.remove(np.concatenate([self._keys(o, n) for o, n in gone.items()]))
        else:
            dead = np.isin(self._owner[: self._used], list(gone))
            self._owner[: self._used][dead] = -1
            self._matrix[: self._used][dead] = 0.0

    @staticmethod
    def _keys(owner: int, n: int) -> np.ndarray:
        return (np.uint64(owner) << np.uint64(_CHUNK_BITS)) + np.arange(n, dtype=np.uint64)

    def _new_graph(self) -> Any:
        return usearch_index()(ndim=self.dim, metric="cos", dtype="f16", **self._params)

    def _to_graph(self) -> None:
        graph = self._new_graph()
        live = self._owner[: self._used] >= 0
        owners = self._owner[: self._used][live]
        if owners.size:
            # Rows of one owner are consecutive, in chunk order: number them 0, 1, ...
            starts = np.r_[0, np.flatnonzero(np.diff(owners)) + 1]
            chunk_no = np.arange(owners.size) - np.repeat(
                starts, np.diff(np.r_[starts, owners.size])
            )
            keys = (owners.astype(np.uint64) << np.uint64(_CHUNK_BITS)) + chunk_no.astype(np.uint64)
            graph.add(keys, self._matrix[: self._used][live], threads=0)
        self._graph = graph
        self._matrix = np.zeros((0, self.dim), dtype=np.float32)
        self._owner = np.zeros(0, dtype=np.int64)
        self._used = 0
        log.info("chunk vector index: %d rows moved to an HNSW graph", owners.size)

    # -- searching -------------------------------------------------------------------------

    def search(self, queries: np.ndarray, floor: float) -> _Found:
        """Every (query row, owner, cosine) with cosine ≥ floor, as three parallel arrays."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        if queries.shape[0] == 0 or not self._counts:
            return empty
        if queries.shape[1] != self.dim:
            return empty  # another model's vectors are never compared with these
        if self._graph is None:
            return _search_exact(self._matrix, self._owner, self._used, queries, floor)
        return _search_graph(self._graph, queries, floor)

    def best_per_owner(self, queries: np.ndarray, floor: float) -> dict[int, float]:
        """For a few query vectors: the best cosine per owner, at or above the floor."""
        out: dict[int, float] = {}
        _, owners, sims = self.search(queries, floor)
        for owner, value in zip(owners.tolist(), sims.tolist(), strict=True):
            if value > out.get(owner, -1.0):
                out[owner] = value
        return out

    def vectors_of(self, owners: Iterable[int]) -> np.ndarray:
        """The stored chunk vectors of some owners, stacked (float16 precision from the graph)."""
        held = [o for o in owners if o in self._counts]
        if not held:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._graph is not None:
            keys = np.concatenate([self._keys(o, self._counts[o]) for o in held])
            return np.asarray(self._graph.get(keys, dtype=np.float32), dtype=np.float32).reshape(
                len(keys), self.dim
            )
        rows = np.isin(self._owner[: self._used], held)
        return self._matrix[: self._used][rows]

    # -- persistence (pipeline/dedup/vectorfile.py) ----------------------------------------

    def save(self, path: Path, info_path: Path, model: str) -> bool:
        """Write the graph and its description (atomically); False in exact mode (nothing kept
        on disk: rebuilding a small set is quicker than reading it)."""
        if self._graph is None:
            return False
        description = {
            "model": model,
            "dim": self.dim,
            "rows": len(self._graph),
            "max_owner": self.max_owner,
            "params": self._params,
        }
        write_graph(self._graph, path, info_path, description)
        return True

    @classmethod
    def load(
        cls,
        path: Path,
        info_path: Path,
        *,
        model: str,
        dim: int | None = None,
        exact_below: int | None = None,
    ) -> VectorIndex | None:
        """The persisted index if it is whole and made for this model (and dimension, if given),
        else None (a WARNING says why, unless there is simply no file). `exact_below`: [dedup]
        vector_index_min_rows (its setting's default when not given)."""
        if exact_below is None:
            exact_below = DedupSettings().vector_index_min_rows
        limit = exact_below

        def new_graph(d: int, params: Mapping[str, Any]) -> Any:
            return cls(d, exact_below=limit, **params)._new_graph()

        found = read_graph(path, info_path, model, dim, exact_below, new_graph)
        if found is None:
            return None
        graph, info, keys = found
        out = cls(graph.ndim, exact_below=exact_below, **info.get("params", {}))
        owners, counts = np.unique(
            (keys >> np.uint64(_CHUNK_BITS)).astype(np.int64), return_counts=True
        )
        out._graph = graph
        out._counts = dict(zip(owners.tolist(), counts.tolist(), strict=True))
        out.rows = int(counts.sum())
        out.max_owner = int(info["max_owner"])
        return out


def _search_exact(
    matrix: np.ndarray, owner: np.ndarray, used: int, queries: np.ndarray, floor: float
) -> _Found:
    """Every pair at the floor among the first `used` rows of `matrix` (owner -1: removed)."""
    q_out, o_out, s_out = [], [], []
    # One matrix product per block of stored rows for all queries; only pairs at the floor
    # are kept, so the work is the product itself.
    for lo in range(0, used, _BLOCK_ROWS):
        hi = min(lo + _BLOCK_ROWS, used)
        sims = queries @ matrix[lo:hi].T
        q_rows, s_rows = np.nonzero(sims >= floor)
        owners = owner[lo + s_rows]
        keep = owners >= 0
        q_out.append(q_rows[keep])
        o_out.append(owners[keep])
        s_out.append(sims[q_rows[keep], s_rows[keep]])
    return (
        np.concatenate(q_out).astype(np.int64),
        np.concatenate(o_out),
        np.concatenate(s_out).astype(np.float32),
    )


def _search_graph(graph: Any, queries: np.ndarray, floor: float) -> _Found:
    """Every pair at the floor, by an adaptive top-k search of the graph (see the module
    docstring)."""
    total = len(graph)
    pending = np.arange(queries.shape[0])
    k = min(_FIRST_K, total)
    q_out, o_out, s_out = [], [], []
    while pending.size:
        found = graph.search(queries[pending], k, threads=0)
        keys = np.asarray(found.keys, dtype=np.uint64).reshape(pending.size, -1)
        sims = 1.0 - np.asarray(found.distances, dtype=np.float32).reshape(pending.size, -1)
        # One query comes back as Matches (only the valid results), several as BatchMatches.
        counts = (
            np.asarray(found.counts).reshape(-1)
            if hasattr(found, "counts")
            else np.array([keys.shape[1]])
        )
        valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
        hit = valid & (sims >= floor)
        rows, cols = np.nonzero(hit)
        q_out.append(pending[rows])
        o_out.append((keys[rows, cols] >> np.uint64(_CHUNK_BITS)).astype(np.int64))
        s_out.append(sims[rows, cols])
        # A query whose every returned neighbour is above the floor may have more.
        limit = min(total, MAX_K)
        again = (counts == k) & hit.all(axis=1) if k < limit else np.zeros(0, bool)
        if k >= limit or not again.any():
            break
        q_out, o_out, s_out = _drop(q_out, o_out, s_out, pending[again])
        pending = pending[again]
        k = min(k * 4, limit)
    return (
        np.concatenate(q_out).astype(np.int64),
        np.concatenate(o_out),
        np.concatenate(s_out).astype(np.float32),
    )


def _drop(
    q_out: list[np.ndarray],
    o_out: list[np.ndarray],
    s_out: list[np.ndarray],
    queries: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    # The next round returns these queries' hits again (and more): keep one copy.
    q, o, s = np.concatenate(q_out), np.concatenate(o_out), np.concatenate(s_out)
    keep = ~np.isin(q, queries)
    return [q[keep]], [o[keep]], [s[keep]]
