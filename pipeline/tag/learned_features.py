"""What a topic's learned part reads of an article (pipeline/tag/learned.py): its pooled vector
and chunk vectors, the rule's scores, how close its chunks come to the marked articles', and its
words hashed into 2^18 buckets. Pure: examples in, feature matrices out.

scipy (about 0.4 s to import) is imported by the functions that build sparse matrices, so that
the commands that never train nor apply a model (`newswatch --help`, `status`) do not load it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse  # type: ignore[import-untyped]

    from pipeline.models import Embedding

HASH_BITS = 18
_WORD_RE = re.compile(r"[a-z][a-z0-9'-]+")
#: Words too common to say anything about a topic (hashed like any other word otherwise).
_STOP = frozenset(
    re.findall(
        r"\w+",
        "the a an and or of to in on for by with at from as is are was were be been has have had "
        "it its this that which said says will would could also but not than they their there he "
        "she we you our his her who whom what when where about after before over under into more "
        "most new one two three last year years per pct mln dlrs reuter",
    )
)
#: The dense features after the pooled and the headline vectors: meaning, words, closeness to
#: yes and to no marks.
SCALARS = 4


@dataclass(frozen=True)
class Example:
    """What the learner reads of one article, or of a topic's description or exemplar."""

    vector: np.ndarray  # the pooled unit vector
    chunks: np.ndarray  # (chunks, dim) unit vectors
    text: str  # title and text
    meaning: float  # the rule's raw similarity to the description and exemplars
    words: float  # the rule's keyword score (0..1)
    article: int = 0  # the article's id; 0: an anchor, not an article
    hashed: sparse.csr_matrix | None = None  # its hashed words, when computed already
    title: np.ndarray | None = None  # the headline's unit vector (None: the pooled one stands in)


def example(
    embedding: Embedding,
    text: str,
    meaning: float,
    words: float,
    article: int = 0,
    hashed: sparse.csr_matrix | None = None,
) -> Example:
    """An article's example from its stored embedding, title and text, and the rule's reading."""
    chunks = (
        np.stack([c.vector for c in embedding.chunks]).astype(np.float32)
        if embedding.chunks
        else np.asarray(embedding.vector, np.float32)[None]
    )
    title = embedding.title_vector
    return Example(
        np.asarray(embedding.vector, np.float32),
        chunks,
        text,
        meaning,
        words,
        article,
        hashed,
        None if title is None else np.asarray(title, np.float32),
    )


def words_of(text: str) -> list[str]:
    """The words the hashed part counts: lower-case, stop words out, word pairs too."""
    words = [w for w in _WORD_RE.findall(text.lower()) if w not in _STOP]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _bucket(token: str) -> int:
    # A stable hash (Python's str hash changes per process).
    return zlib.crc32(token.encode()) & ((1 << HASH_BITS) - 1)


def hashed_words(texts: Sequence[str]) -> sparse.csr_matrix:
    """Texts as hashed word counts (sublinear: 1 + log count), each row of unit length."""
    # scipy is heavy: imported on first use (see the module's docstring)
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, text in enumerate(texts):
        counts: dict[int, int] = {}
        for w in words_of(text):
            b = _bucket(w)
            counts[b] = counts.get(b, 0) + 1
        if not counts:
            continue
        v = 1.0 + np.log(np.fromiter(counts.values(), float, len(counts)))
        v /= np.linalg.norm(v)
        rows.extend([r] * len(counts))
        cols.extend(counts)
        vals.extend(v.tolist())
    return sparse.csr_matrix(
        (np.asarray(vals, np.float32), (rows, cols)), shape=(len(texts), 1 << HASH_BITS)
    )


def words_matrix(examples: Sequence[Example]) -> sparse.csr_matrix:
    """The hashed words of examples, from each one's `hashed` row when it has one."""
    # scipy is heavy: imported on first use (see the module's docstring)
    from scipy import sparse

    todo = [i for i, e in enumerate(examples) if e.hashed is None]
    fresh = hashed_words([examples[i].text for i in todo]) if todo else None
    rows: list[sparse.csr_matrix] = []
    k = 0
    for e in examples:
        if e.hashed is not None:
            rows.append(e.hashed)
        else:
            assert fresh is not None
            rows.append(fresh[k])
            k += 1
    if not rows:
        return sparse.csr_matrix((0, 1 << HASH_BITS), dtype=np.float32)
    return sparse.vstack(rows, format="csr")


def with_words(examples: Sequence[Example]) -> list[Example]:
    """Examples carrying their hashed words (computed once, for examples read many times)."""
    matrix = hashed_words([e.text for e in examples])
    return [replace(e, hashed=matrix[i]) for i, e in enumerate(examples)]


def _closest(examples: Sequence[Example], chunks: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Each example's best chunk cosine to `chunks`, its own chunks left out."""
    out = np.zeros(len(examples), np.float32)
    if chunks.size == 0:
        return out
    for i, ex in enumerate(examples):
        if ex.chunks.size == 0 or ex.chunks.shape[1] != chunks.shape[1]:
            continue
        sims = ex.chunks @ chunks.T
        if ex.article:
            sims = sims[:, owners != ex.article]
        if sims.size:
            out[i] = float(sims.max())
    return out


def dense_features(
    examples: Sequence[Example],
    yes_chunks: np.ndarray,
    yes_owner: np.ndarray,
    no_chunks: np.ndarray,
    no_owner: np.ndarray,
) -> np.ndarray:
    """The dense part: pooled vector, headline vector, the rule's meaning and words, closeness
    to the yes and to the no marks."""
    if not examples:
        return np.zeros((0, 0), np.float32)
    vectors = np.stack([e.vector for e in examples]).astype(np.float32)
    # A headline of the same model, else the pooled vector (an anchor, a copy, a text stored
    # without one): a headline of another size cannot be read by the same weights.
    titles = np.stack(
        [
            e.title if e.title is not None and e.title.size == e.vector.size else e.vector
            for e in examples
        ]
    ).astype(np.float32)
    scalars = np.column_stack(
        [
            [e.meaning for e in examples],
            [e.words for e in examples],
            _closest(examples, yes_chunks, yes_owner),
            _closest(examples, no_chunks, no_owner),
        ]
    ).astype(np.float32)
    return np.hstack([vectors, titles, scalars])


def idf_of(words: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, float]:
    """Inverse document frequencies of the buckets some row has (index, value) and of the
    others (smooth: log((1 + n) / (1 + df)) + 1)."""
    n = words.shape[0]
    df = np.bincount(words.indices, minlength=words.shape[1])
    seen = np.flatnonzero(df)
    idf = np.log((1.0 + n) / (1.0 + df[seen])) + 1.0
    return seen.astype(np.int64), idf.astype(np.float32), float(np.log(1.0 + n) + 1.0)


def dense_idf(index: np.ndarray, value: np.ndarray, default: float) -> np.ndarray:
    """The idf of every bucket: `value` at `index`, `default` elsewhere."""
    idf = np.full(1 << HASH_BITS, default, np.float32)
    idf[index] = value
    return idf


def weighted_words(words: sparse.csr_matrix, idf: np.ndarray | None) -> sparse.csr_matrix:
    """Hashed word counts times their idf (dense over the buckets), rows of unit length."""
    if idf is None:
        return words
    # scipy is heavy: imported on first use (see the module's docstring)
    from scipy import sparse

    out = sparse.csr_matrix(words.multiply(idf[None, :]))
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ out)
