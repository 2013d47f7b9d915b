"""The chunk vectors of English articles, in one vector index that both sides of the dedup index
read: copies take their candidates from it, stories their meaning and their merges' closeness.

English only: the model reads English, and unrelated texts in other languages score high with
it, so their chunks would only add false candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from pipeline.dedup.vectorindex import VectorIndex
from pipeline.models import DedupDoc
from pipeline.textnorm import is_english_like

log = logging.getLogger(__name__)


class ChunkVectors:
    """English articles' chunk vectors; a persisted index may arrive already filled."""

    def __init__(self, exact_below: int, index: VectorIndex | None = None) -> None:
        self.index = index
        self._exact_below = exact_below
        self.english: set[int] = set()  # indexed articles that are English-like
        self._deferred: list[tuple[int, np.ndarray]] = []  # add_all: not inserted yet
        self._deferred_ids: set[int] = set()
        self.deferred_rows = 0

    def add(self, doc: DedupDoc) -> None:
        """Note an article; an English one's chunk vectors go into the index."""
        if not is_english_like(doc.lang, doc.text):
            return
        self.english.add(doc.id)
        if doc.chunk_vectors.size:
            self._insert(doc.id, np.asarray(doc.chunk_vectors, dtype=np.float32))

    def defer(self, doc: DedupDoc) -> DedupDoc:
        """The doc without its chunk vectors, which wait for `flush` (a load inserts many at
        once: an HNSW graph inserts those in parallel)."""
        chunks = doc.chunk_vectors
        if chunks.size and is_english_like(doc.lang, doc.text):
            self._deferred.append((doc.id, np.asarray(chunks, dtype=np.float32)))
            self.deferred_rows += chunks.shape[0]
            self._deferred_ids.add(doc.id)
        return replace(doc, chunk_vectors=chunks[:0])

    def flush(self) -> None:
        """Insert the deferred chunk vectors, one block per run of equal dimension."""
        pending, start = self._deferred, 0
        while start < len(pending):
            dim = pending[start][1].shape[1]
            end = start + 1
            while end < len(pending) and pending[end][1].shape[1] == dim:
                end += 1
            self._insert(*pending[start])  # makes the index, or a new one for a new model
            rest = pending[start + 1 : end]
            if rest:
                assert self.index is not None
                self.index.add_many(
                    np.array([i for i, _ in rest]),
                    np.array([c.shape[0] for _, c in rest]),
                    np.vstack([c for _, c in rest]),
                )
            start = end
        self._deferred, self.deferred_rows = [], 0
        self._deferred_ids.clear()

    def holds(self, article_id: int) -> bool:
        """Whether an article's chunk vectors are indexed (a persisted index) or about to be."""
        return article_id in self._deferred_ids or (
            self.index is not None and self.index.holds(article_id)
        )

    def _insert(self, article_id: int, chunks: np.ndarray) -> None:
        dim = chunks.shape[1]
        if self.index is None or self.index.dim != dim:
            if self.index is not None and self.index.size:
                # Vectors of another model cannot be compared with these: keep the newer model.
                log.warning(
                    "chunk vectors change dimension (%d → %d); earlier ones are dropped "
                    "from the near-duplicate index",
                    self.index.dim,
                    dim,
                )
            self.index = VectorIndex(dim, exact_below=self._exact_below)
        self.index.add(article_id, chunks)

    def remove(self, gone: Iterable[int]) -> None:
        """Forget articles."""
        gone = set(gone)
        self.english -= gone
        if self.index is not None:
            self.index.remove(gone)

    def matches(self, docs: Sequence[DedupDoc], floor: float) -> list[dict[int, float]]:
        """For each doc: best chunk cosine per stored article, at `floor` or above."""
        out: list[dict[int, float]] = [{} for _ in docs]
        blocks = [
            (k, d)
            for k, d in enumerate(docs)
            if d.chunk_vectors.size and is_english_like(d.lang, d.text)
        ]
        if not blocks or self.index is None or self.index.size == 0:
            return out
        queries = np.vstack([np.asarray(d.chunk_vectors, dtype=np.float32) for _, d in blocks])
        doc_of_row = np.repeat(
            [k for k, _ in blocks], [d.chunk_vectors.shape[0] for _, d in blocks]
        )
        q_rows, owners, sims = self.index.search(queries, floor)
        for doc_k, owner, value in zip(
            doc_of_row[q_rows].tolist(), owners.tolist(), sims.tolist(), strict=True
        ):
            if value > out[doc_k].get(owner, -1.0):
                out[doc_k][owner] = value
        return out

    def batch_matches(self, doc: DedupDoc, priors: Sequence[DedupDoc]) -> dict[int, float]:
        """Best chunk cosine of a doc with the articles of its batch indexed a moment ago (they
        were not in the index when the batch was searched)."""
        out: dict[int, float] = {}
        for prior in priors:
            if (
                prior.id in self.english
                and prior.chunk_vectors.size
                and doc.chunk_vectors.size
                and prior.chunk_vectors.shape[1] == doc.chunk_vectors.shape[1]
                and is_english_like(doc.lang, doc.text)
            ):
                out[prior.id] = float((prior.chunk_vectors @ doc.chunk_vectors.T).max())
        return out

    def closest_between(self, a: Sequence[int], b: Sequence[int]) -> float:
        """Best chunk cosine between some article of one list and some of the other."""
        if self.index is None:
            return 0.0
        left, right = self.index.vectors_of(a), self.index.vectors_of(b)
        if not left.size or not right.size:
            return 0.0
        return float((left @ right.T).max())

    def best_per_pair(self, a: Sequence[int], b: Sequence[int]) -> dict[tuple[int, int], float]:
        """Best chunk cosine of every pair of an article of one list and one of the other
        (articles without chunk vectors are left out)."""
        if self.index is None:
            return {}
        index = self.index
        left = {i: v for i in dict.fromkeys(a) if (v := index.vectors_of([i])).size}
        right = {j: v for j in dict.fromkeys(b) if (v := index.vectors_of([j])).size}
        return {
            (i, j): float((u @ v.T).max())
            for i, u in left.items()
            for j, v in right.items()
            if i != j
        }
