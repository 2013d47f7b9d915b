"""Word evidence of stories: the words two texts share, weighted by how rare they are among the
articles stored so far (tf-idf cosine), and the memory of each stored article's words."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Hashed vocabulary size of the word vectors (collisions are rare at this size and harmless).
N_FEATURES = 1 << 20
#: Shared words shown as evidence.
SHOWN_WORDS = 8

_VECTORIZER: Any = None


def _vectorizer() -> Any:
    # scikit-learn's hashing vectorizer tokenises (Unicode words, English stop words dropped) and
    # counts without a vocabulary to keep; the document frequencies grow with the warehouse, which
    # no scikit-learn transformer does incrementally, so TermStats keeps them.
    global _VECTORIZER
    if _VECTORIZER is None:
        from sklearn.feature_extraction.text import HashingVectorizer

        _VECTORIZER = HashingVectorizer(
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            stop_words="english",
            dtype=np.float32,
        )
    return _VECTORIZER


@dataclass(frozen=True)
class Terms:
    """A text's hashed words and their counts (sorted by hash)."""

    index: np.ndarray
    count: np.ndarray


def terms_of(text: str) -> Terms:
    """The hashed word counts of a text."""
    row = _vectorizer().transform([text])
    order = np.argsort(row.indices)
    return Terms(row.indices[order].astype(np.int64), row.data[order].astype(np.float32))


def words_of(text: str) -> list[str]:
    """The words of a text as the word evidence counts them (lower case, no stop words)."""
    words: list[str] = _vectorizer().build_analyzer()(text)
    return words


class TermStats:
    """How many stored articles use each word: the rarer, the more a shared word weighs."""

    def __init__(self) -> None:
        self.df = np.zeros(N_FEATURES, dtype=np.int32)
        self.docs = 0

    def add(self, terms: Terms) -> None:
        """Count one more article."""
        self.df[terms.index] += 1
        self.docs += 1

    def remove(self, terms: Terms) -> None:
        """Forget one article."""
        self.df[terms.index] -= 1
        self.docs -= 1

    def idf(self, index: np.ndarray) -> np.ndarray:
        """Inverse document frequency of hashed words (never below zero)."""
        return np.log((self.docs + 1.0) / (self.df[index] + 0.5)).astype(np.float32)

    def weights(self, terms: Terms) -> np.ndarray:
        """Unit tf-idf weights of a text's words (sublinear term frequency)."""
        w = (1.0 + np.log(terms.count)) * self.idf(terms.index)
        norm = float(np.linalg.norm(w))
        return w / norm if norm > 0 else w

    def cosine(self, a: Terms, b: Terms) -> float:
        """tf-idf cosine of two texts."""
        if not a.index.size or not b.index.size:
            return 0.0
        _, ia, ib = np.intersect1d(a.index, b.index, assume_unique=True, return_indices=True)
        if not ia.size:
            return 0.0
        return float(np.dot(self.weights(a)[ia], self.weights(b)[ib]))

    def shared_words(self, text_a: str, text_b: str, limit: int = SHOWN_WORDS) -> list[str]:
        """The rarest words two texts share (what the word evidence rests on)."""
        shared = set(words_of(text_a)) & set(words_of(text_b))
        if not shared:
            return []
        words = sorted(shared)
        rows = _vectorizer().transform(words)
        ranked = [
            (-float(self.idf(rows[k].indices[:1])[0]), w)
            for k, w in enumerate(words)
            if rows[k].nnz
        ]
        return [w for _, w in sorted(ranked)[:limit]]


class TermCache:
    """Recent articles' hashed words in memory; older ones are re-read through a loader."""

    def __init__(
        self, loader: Callable[[Sequence[int]], dict[int, str]] | None, size: int = 20000
    ) -> None:
        self._loader = loader
        self._size = size
        self._terms: OrderedDict[int, Terms] = OrderedDict()
        self._texts: OrderedDict[int, str] = OrderedDict()

    def put(self, article_id: int, text: str, terms: Terms) -> None:
        """Keep an article's words (and text, for the evidence shown)."""
        self._terms[article_id] = terms
        self._texts[article_id] = text
        for cache in (self._terms, self._texts):
            cache.move_to_end(article_id)
            while len(cache) > self._size:
                cache.popitem(last=False)

    def drop(self, ids: Iterable[int]) -> None:
        """Forget some articles."""
        for i in ids:
            self._terms.pop(i, None)
            self._texts.pop(i, None)

    def cached(self, ids: Iterable[int]) -> dict[int, Terms]:
        """The words of those articles still in memory (no loading)."""
        return {i: self._terms[i] for i in ids if i in self._terms}

    def cached_texts(self, ids: Iterable[int]) -> dict[int, str]:
        """The texts of those articles still in memory (no loading)."""
        return {i: self._texts[i] for i in ids if i in self._texts}

    def get(self, ids: Sequence[int]) -> dict[int, tuple[str, Terms]]:
        """Text and words of some articles (those the loader cannot find are left out)."""
        out = {i: (self._texts[i], self._terms[i]) for i in ids if i in self._terms}
        missing = [i for i in ids if i not in out]
        if missing and self._loader is not None:
            for i, text in self._loader(missing).items():
                terms = terms_of(text)
                self.put(i, text, terms)
                out[i] = (text, terms)
        return out
