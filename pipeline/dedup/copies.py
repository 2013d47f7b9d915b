"""Copy detection, levels 2 and 3 of deduplication (see pipeline/dedup/index.py): the same
normalised text as a root original, or a confirmed shingle overlap with one.

Candidates come from the content hash, a MinHash LSH index of every text's shingles (copies in
any language, anywhere in the text) and the chunk vector hits the caller found; each candidate is
resolved to its root original, and the new text's shingle overlap with the root's own text
decides (pipeline/dedup/overlap.py). Shingles of recent articles are kept in memory, a seed's
always; older ones are re-read through the text loader.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.config.settings import DedupSettings
from pipeline.dedup.overlap import confirm, overlap, shingle_hashes
from pipeline.models import DedupDoc

TextLoader = Callable[[Sequence[int]], dict[int, str]]


def _low32(value: bytes) -> int:
    # Shingle hashes are already uniform 64-bit values: MinHash needs no second hash of them.
    return int.from_bytes(value[:4], "little")


@dataclass(frozen=True)
class CopyMatch:
    """The root original a text copies, how closely (1.0 for the same text) and how."""

    root: int
    similarity: float
    kind: str


class CopyFinder:
    """The texts of every indexed article as copy detection needs them, and their roots."""

    def __init__(
        self, settings: DedupSettings, text_loader: TextLoader | None, cache_size: int
    ) -> None:
        self.settings = settings
        self._load_texts = text_loader
        self._cache_size = cache_size
        self._lsh = MinHashLSH(threshold=settings.lsh_threshold, num_perm=settings.num_perm)
        self._perm_seed = 1
        self._template = MinHash(num_perm=settings.num_perm, seed=self._perm_seed)
        self._by_hash: dict[str, int] = {}
        self._duplicate_of: dict[int, int | None] = {}  # every indexed article
        self._shingles: OrderedDict[int, np.ndarray] = OrderedDict()
        self._pinned: dict[int, np.ndarray] = {}  # seeds: always in memory

    def __len__(self) -> int:
        return len(self._duplicate_of)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._duplicate_of

    def shingles(self, text: str) -> np.ndarray:
        """The shingle hashes of a text, as the settings cut them."""
        return shingle_hashes(text, self.settings.shingle_size)

    def _minhash(self, shingles: np.ndarray) -> MinHash:
        # Reusing the permutations spares regenerating them for every document.
        m = MinHash(
            num_perm=self.settings.num_perm,
            seed=self._perm_seed,
            hashfunc=_low32,
            permutations=self._template.permutations,
            scheme=self._template.scheme,
        )
        if shingles.size:
            m.update_batch([s.tobytes() for s in shingles])
        return m

    def add(self, doc: DedupDoc, duplicate_of: int | None, shingles: np.ndarray) -> None:
        """Index an article's text (the caller has removed an earlier version of it)."""
        self._by_hash.setdefault(doc.content_hash, doc.id)
        self._duplicate_of[doc.id] = duplicate_of
        if doc.is_seed:
            self._pinned[doc.id] = shingles
        else:
            self._remember(doc.id, shingles)
        self._lsh.insert(doc.id, self._minhash(shingles), check_duplication=False)

    def remove(self, gone: set[int]) -> None:
        """Forget articles."""
        for key in [k for k, v in self._by_hash.items() if v in gone]:
            del self._by_hash[key]
        for i in gone:
            self._duplicate_of.pop(i, None)
            self._shingles.pop(i, None)
            self._pinned.pop(i, None)
            if i in self._lsh:
                self._lsh.remove(i)

    def _remember(self, article_id: int, shingles: np.ndarray) -> None:
        self._shingles[article_id] = shingles
        self._shingles.move_to_end(article_id)
        while len(self._shingles) > self._cache_size:
            self._shingles.popitem(last=False)

    def _shingles_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        missing = []
        for i in ids:
            if i in self._pinned:
                out[i] = self._pinned[i]
            elif i in self._shingles:
                out[i] = self._shingles[i]
                self._shingles.move_to_end(i)
            else:
                missing.append(i)
        if missing and self._load_texts is not None:
            for i, text in self._load_texts(missing).items():
                out[i] = self.shingles(text)
                self._remember(i, out[i])
        return out

    def root(self, article_id: int) -> int:
        """The root original an indexed article's chain of duplicate_of ends at."""
        # Duplicates point at roots, but a warehouse edited by hand may hold a chain (or a loop).
        seen = {article_id}
        parent = self._duplicate_of.get(article_id)
        while parent is not None and parent not in seen:
            article_id = parent
            seen.add(article_id)
            parent = self._duplicate_of.get(article_id)
        return article_id

    def find(
        self, doc: DedupDoc, shingles: np.ndarray, vector_hits: dict[int, float]
    ) -> CopyMatch | None:
        """The root this text copies, or None (an original)."""
        original = self._by_hash.get(doc.content_hash)
        if original == doc.id or original not in self._duplicate_of:
            original = None
        if original is not None and self.root(original) == original:
            # The same normalised text as a root: the closest overlap there is.
            return CopyMatch(original, 1.0, "hash")
        candidates = set(self._lsh.query(self._minhash(shingles)))
        candidates |= {c for c, v in vector_hits.items() if v >= self.settings.candidate_similarity}
        if original is not None:
            # A copy of a stored duplicate is a copy of its root only if it overlaps the root too.
            candidates.add(original)
        best = self._best_root(doc.id, shingles, candidates)
        if best is None:
            return None
        root, (kind, similarity) = best
        return CopyMatch(root, round(similarity, 4), kind)

    def _best_root(
        self, doc_id: int, shingles: np.ndarray, candidates: Iterable[int]
    ) -> tuple[int, tuple[str, float]] | None:
        """The root original, among the candidates' roots, that the new text overlaps most.

        A candidate that is itself a duplicate only leads to its root: a roundup stored as a copy
        of story A also contains story B, and a later copy of B must not be filed under A. A
        root whose text is not at hand (neither in memory nor loadable) cannot be confirmed.
        """
        roots = {self.root(c) for c in candidates if c != doc_id} - {doc_id}
        best: tuple[int, tuple[str, float]] | None = None
        for root, old in sorted(self._shingles_of(sorted(roots)).items()):
            verdict = confirm(overlap(shingles, old), shingles.size, old.size, self.settings)
            if verdict and (best is None or verdict[1] > best[1][1]):
                best = (root, verdict)
        return best

    def likely_copies(self, docs: Sequence[DedupDoc]) -> set[int]:
        """Ids of the batch's articles that are copies by their text alone (see
        DedupIndex.likely_copies)."""
        local = MinHashLSH(threshold=self.settings.lsh_threshold, num_perm=self.settings.num_perm)
        local_hash: dict[str, int] = {}
        local_shingles: dict[int, np.ndarray] = {}
        out: set[int] = set()
        for doc in docs:
            shingles = self.shingles(doc.text)
            if self.find(doc, shingles, {}) is not None or doc.content_hash in local_hash:
                out.add(doc.id)
                continue
            sketch = self._minhash(shingles)
            if any(
                confirm(
                    overlap(shingles, local_shingles[c]),
                    shingles.size,
                    local_shingles[c].size,
                    self.settings,
                )
                for c in local.query(sketch)
            ):
                out.add(doc.id)
                continue
            # Only originals of the batch are compared with later ones: a copy's root is stored.
            local_hash[doc.content_hash] = doc.id
            local_shingles[doc.id] = shingles
            local.insert(doc.id, sketch, check_duplication=False)
        return out
