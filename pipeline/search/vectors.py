"""Meaning through the chunk vector index the ingest saves beside the warehouse.

A search maps the chunk vector file the ingest saves beside the warehouse
(pipeline/search/savedindex.py), asks it for the query's nearest chunks and keeps the best chunk
of each article found: up to a million chunks every vector of the file is compared with the
query, beyond that its HNSW graph is searched.

Which files are trusted, and how they are mapped: pipeline/search/savedindex.py.

Nothing stored is missed: the articles the file does not hold are scored exactly from the
warehouse's vectors, those stored after it was saved (ids above its highest: one range, which
the scan reads alone; kept between searches, each reading only the articles stored since the one
before) and the earlier ones the dedup leaves out (articles not in English: read once per file
and process, as they cannot change while the file does not).

A search without filters can ask the file for the query's nearest chunks before it opens the
warehouse (`nearest_ahead`): a page waiting for the daemon's batch does that part meanwhile, and
holds the warehouse shorter.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.dedup.vectorindex import _CHUNK_BITS
from pipeline.models import MeaningHit, SearchFilters
from pipeline.search import savedindex
from pipeline.search.savedindex import SavedChunks
from pipeline.store import search as search_store
from pipeline.store import searchvectors as vector_store
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
#: often come together; the graph's are approximate, and more of them are asked for. At
#: 1,000,000 articles (6.8 million chunks; the 38 queries of bench/search_eval.py) the top 100
#: articles hold 65 % of the exact search's top 100 for 64 per article, 71 % for 128 and 83 %
#: for 256, in a ranking of 120, 180 and 250 ms (median).
_SCAN_K_PER_ARTICLE = 4
_GRAPH_K_PER_ARTICLE = 128
#: Articles found whose every chunk is compared with the query, per article wanted, nearest
#: first: the graph finds an article by some of its chunks, and its best one is looked for among
#: all of them. Rescoring every article found instead (at 1,000,000 articles the chunks of
#: some 12,700 articles, 86,000 vectors read from the file) made the ranking 430 ms instead of
#: 180 (p95 1.4 s instead of 0.25) and held 1 % more of the exact top 100.
_RESCORED_PER_ARTICLE = 4
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
#: Most chunk rows of the articles stored since the file was saved kept in memory between
#: searches (the ingest saves the file again every [dedup] vector_index_save_s); beyond, each
#: search reads them all (3,200 articles' 22,000 chunks: some 200 ms at 100,000 articles).
_KEEP_NEWER_ROWS = 100_000
_ROW_FIELDS = ("article_ids", "chunk_nos", "starts", "ends", "vectors")


def index_min_rows(given: int | None) -> int:
    """Chunks the saved vector index must hold to be searched: `given`, else [dedup]
    vector_index_min_rows's default."""
    return DedupSettings().vector_index_min_rows if given is None else given


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
    def of_rows(rows: vector_store.ChunkRows, query: np.ndarray) -> _Best:
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
) -> tuple[np.ndarray, vector_store.ChunkRows | None]:
    """The articles up to the file's highest id with chunk vectors it does not hold, and their
    rows when few enough to keep (read once per mapped file)."""
    if saved.left_out is None:
        stored = vector_store.articles_with_chunks(db, model, up_to=saved.max_owner)
        ids = stored[~saved.holds(stored)]
        rows = None
        if ids.size and ids.size * float(saved.counts.mean()) <= _KEEP_LEFT_OUT_ROWS:
            rows = vector_store.chunk_rows(db, model, ids=ids.tolist())
        saved.left_out = (ids, rows)
    return saved.left_out


def _concat_rows(a: vector_store.ChunkRows, b: vector_store.ChunkRows) -> vector_store.ChunkRows:
    if not b.article_ids.size or not a.article_ids.size:  # an empty read has no width
        return a if b.article_ids.size == 0 else b
    return vector_store.ChunkRows(
        *(np.concatenate([getattr(a, f), getattr(b, f)]) for f in _ROW_FIELDS)
    )


def _newer(db: Db, saved: SavedChunks, model: str) -> vector_store.ChunkRows | None:
    """The chunk rows of every article stored since the file was saved, or None when there
    are too many to keep. Read once and kept with the mapping: each search reads only the
    articles stored since the last one read (the writer gives ids in storage order, and an
    article's chunks are committed with it)."""
    kept = saved.newer
    start = saved.max_owner if kept is None else kept[0]
    fresh = vector_store.chunk_rows(db, model, after=start)
    rows = fresh if kept is None else _concat_rows(kept[1], fresh)
    if rows.article_ids.size > _KEEP_NEWER_ROWS:
        saved.newer = None
        return None
    if fresh.article_ids.size:
        start = int(fresh.article_ids.max())
    saved.newer = (start, rows)
    return rows


def _passing(db: Db, best: _Best, filters: SearchFilters) -> _Best:
    """Those of these articles still stored that pass the filters."""
    passing = search_store.filtered_ids(db, best.ids.tolist(), filters)
    return best.where(np.isin(best.ids, list(passing)))


def _score_unheld(
    db: Db, saved: SavedChunks, model: str, query: np.ndarray, filters: SearchFilters
) -> _Best:
    """The articles the file does not hold that pass the filters, scored exactly."""
    kept = _newer(db, saved, model)
    if kept is not None:
        parts = [_passing(db, _Best.of_rows(kept, query), filters)]
    else:
        newer = vector_store.chunk_rows(db, model, after=saved.max_owner, filters=filters)
        parts = [_Best.of_rows(newer, query)]
    ids, rows = _left_out(db, saved, model)
    if ids.size:
        if rows is None:
            rows = vector_store.chunk_rows(db, model, ids=ids.tolist(), filters=filters)
        parts.append(_passing(db, _Best.of_rows(rows, query), filters))
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


@dataclass(frozen=True)
class Ahead:
    """A query's nearest chunks in a saved index file, found before the warehouse was opened
    (a search without filters asks for the same first k): the mapping they came from, k and
    their articles, nearest first."""

    saved: SavedChunks
    k: int
    owners: np.ndarray


def _first_k(saved: SavedChunks, depth: int, share: float) -> int:
    per_article = _SCAN_K_PER_ARTICLE if _scans(saved, 0) else _GRAPH_K_PER_ARTICLE
    return min(max(_MIN_K, math.ceil(depth * per_article / share)), saved.rows)


def nearest_ahead(
    warehouse: Path, model: str, vector: np.ndarray, depth: int, min_rows: int
) -> Ahead | None:
    """The first nearest chunks an unfiltered search will ask the index file beside the
    warehouse for, found before the warehouse is opened: a page that waits for a batch to be
    written compares the query with the file meanwhile, and holds the warehouse shorter. None
    when the file is not usable (the search then decides as it always does)."""
    saved = savedindex.saved_beside(warehouse, model, min_rows)
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if saved is None or saved.dim != query.size:
        return None
    k = _first_k(saved, depth, 1.0)
    return Ahead(saved, k, _nearest_owners(saved, query, k))


def _held_candidates(
    db: Db,
    saved: SavedChunks,
    query: np.ndarray,
    filters: SearchFilters,
    depth: int,
    ahead: Ahead | None = None,
) -> np.ndarray:
    """Held articles that pass the filters, the nearest the query first, up to
    `_RESCORED_PER_ARTICLE` x `depth` of them: the nearest chunks are asked for in proportion to
    the share of articles passing, and again four times as many while fewer than `depth` of
    their articles pass (deleted ones do not). The first ask is answered by `ahead` when it came
    from this mapping with this k."""
    share = 1.0
    if filters != SearchFilters():
        passing = search_store.count_articles(db, filters)
        if passing < _SCORE_EACH_BELOW:
            ids = np.asarray(search_store.passing_ids(db, filters), dtype=np.int64)
            return ids[saved.holds(ids)]
        share = passing / max(1, search_store.count_articles(db))
    k = _first_k(saved, depth, share)
    while True:
        k = min(k, saved.rows)
        if ahead is not None and ahead.saved is saved and ahead.k == k:
            owners = ahead.owners
        else:
            owners = _nearest_owners(saved, query, k)
        kept = search_store.filtered_ids(db, owners.tolist(), filters)
        owners = owners[np.isin(owners, list(kept))][: depth * _RESCORED_PER_ARTICLE]
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
    ahead: Ahead | None = None,
) -> list[MeaningHit]:
    """Articles by the cosine of their closest chunk to `vector`, best first, with that chunk's
    span: the articles the file holds through it, the others exactly (see the module doc);
    `ahead`, the nearest chunks found before the warehouse was opened (`nearest_ahead`)."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    candidates = _held_candidates(db, saved, query, filters, depth, ahead)
    held = _score_held(saved, candidates, query)
    best = _concat([held, _score_unheld(db, saved, model, query, filters)])
    top = best.where(np.lexsort((best.ids, -best.sims))[:depth])
    unread = top.starts < 0
    spans = vector_store.chunk_spans(
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
