"""The learned part of a topic: a small classifier trained from an analyst's marks.

A topic with marks in force gets a model that decides instead of the rule (the rule's own scores
are among its features, so it keeps what the rule knows). It reads what newswatch already stores
for every article:

- the pooled English vector (the meaning of the whole text);
- the rule's evidence: the raw similarity of the best chunks to the description and exemplars,
  and the keyword score;
- how close the article's chunks come to the chunks of the articles marked yes, and of those
  marked no (an article is never compared with itself);
- the words of the title and text, hashed (2^18 buckets, sublinear counts, unit length): the
  vocabulary an analyst's yes marks share, which the sentence model blurs.

Training: the marks are the labelled examples; the topic's description and exemplars are
positives too (anchors, so that a topic with few yes marks still knows what it is about); a sample
of the stored articles that nobody marked stands for the news at large, as negatives of small
weight (a topic is a small share of the news: most unmarked articles are not about it). The
learner is scikit-learn's logistic regression (L2, C = 1); the classes are re-weighted so that
positives and negatives weigh alike, and the threshold is fixed at 0.5. It was chosen on the
stream side of Reuters-21578 (README.md, Benchmarks: bench/marks_eval.py) against a heavier
weight or idf on the words, other scales of the vector and of the scalars, other C,
thresholds and unmarked weights, and self-training on the unmarked articles: none did better.

What to ask next: the unmarked articles the model is least certain of (probability nearest the
threshold); before any model, the articles most like the description (a cold start).

Everything here is pure: examples in, model or probabilities out. Reading the warehouse and
storing versions is pipeline/app/learning.py's and pipeline/store/topic_models.py's.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from pipeline.models import Embedding

#: The learner's name, stored with every version (a version trained otherwise is not applied).
LEARNER = "logreg-v1"
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


@dataclass(frozen=True)
class LearnerParams:
    """How a topic's model is trained (the [topics] learn_* settings)."""

    c: float = 1.0  # inverse regularisation strength
    word_weight: float = 1.0  # scale of the hashed words against the dense features
    unlabelled_weight: float = 0.05  # weight of one unmarked article as a negative
    anchor_weight: float = 1.0  # weight of the description and of each exemplar
    threshold: float = 0.5  # probability from which the topic is given
    self_training: int = 0  # rounds of relabelling the unmarked articles by the model
    vector_scale: float = 1.0  # the pooled vector's scale against the words
    scalar_scale: float = 1.0  # the rule's scores' and the closeness to marks' scale
    idf: bool = False  # words weighted by their inverse document frequency (measured: no gain)


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


@dataclass(frozen=True, eq=False)
class LearnedModel:
    """One trained version of a topic's learned part."""

    topic: str
    version: int
    marks: int
    yes: int
    no: int
    threshold: float
    dense_coef: np.ndarray  # over dense_features()
    intercept: float
    word_index: np.ndarray  # hashed buckets with a weight (int64)
    word_coef: np.ndarray  # their weights
    yes_chunks: np.ndarray  # chunk vectors of the articles marked yes (and the anchors)
    yes_owner: np.ndarray  # the article each of those chunks belongs to (0: an anchor)
    no_chunks: np.ndarray  # chunk vectors of the articles marked no
    no_owner: np.ndarray
    idf_index: np.ndarray  # buckets with an inverse document frequency of their own
    idf_value: np.ndarray
    idf_default: np.ndarray  # [idf of the other buckets] ([0]: words not idf-weighted)
    word_weight: np.ndarray  # [the words' scale when trained]
    learner: str = LEARNER
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Dense forms, made once: a tagger applies the model to every article.
        idf = (
            _dense_idf(self.idf_index, self.idf_value, float(self.idf_default[0]))
            if self.idf_default[0] > 0
            else None
        )
        w = np.zeros(1 << HASH_BITS, np.float32)
        w[self.word_index] = self.word_coef
        object.__setattr__(self, "_idf", idf)
        object.__setattr__(self, "_words", w * float(self.word_weight[0]))


def _dense_idf(index: np.ndarray, value: np.ndarray, default: float) -> np.ndarray:
    idf = np.full(1 << HASH_BITS, default, np.float32)
    idf[index] = value
    return idf


def words_of(text: str) -> list[str]:
    """The words the hashed part counts: lower-case, stop words out, word pairs too."""
    words = [w for w in _WORD_RE.findall(text.lower()) if w not in _STOP]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _bucket(token: str) -> int:
    # A stable hash (Python's str hash changes per process).
    return zlib.crc32(token.encode()) & ((1 << HASH_BITS) - 1)


def hashed_words(texts: Sequence[str]) -> sparse.csr_matrix:
    """Texts as hashed word counts (sublinear: 1 + log count), each row of unit length."""
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


def _words_matrix(examples: Sequence[Example]) -> sparse.csr_matrix:
    """The hashed words of examples, from each one's `hashed` row when it has one."""
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


#: The dense features after the pooled vector: meaning, words, closeness to yes and to no marks.
SCALARS = 4


def dense_features(
    examples: Sequence[Example],
    yes_chunks: np.ndarray,
    yes_owner: np.ndarray,
    no_chunks: np.ndarray,
    no_owner: np.ndarray,
) -> np.ndarray:
    """The dense part: pooled vector, the rule's meaning and words, closeness to the yes and to
    the no marks (the scalars scaled to weigh like a few vector components)."""
    if not examples:
        return np.zeros((0, 0), np.float32)
    vectors = np.stack([e.vector for e in examples]).astype(np.float32)
    scalars = np.column_stack(
        [
            [e.meaning for e in examples],
            [e.words for e in examples],
            _closest(examples, yes_chunks, yes_owner),
            _closest(examples, no_chunks, no_owner),
        ]
    ).astype(np.float32)
    return np.hstack([vectors, scalars])


def idf_of(words: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, float]:
    """Inverse document frequencies of the buckets some row has (index, value) and of the
    others (smooth: log((1 + n) / (1 + df)) + 1)."""
    n = words.shape[0]
    df = np.bincount(words.indices, minlength=words.shape[1])
    seen = np.flatnonzero(df)
    idf = np.log((1.0 + n) / (1.0 + df[seen])) + 1.0
    return seen.astype(np.int64), idf.astype(np.float32), float(np.log(1.0 + n) + 1.0)


def weighted_words(words: sparse.csr_matrix, idf: np.ndarray | None) -> sparse.csr_matrix:
    """Hashed word counts times their idf (dense over the buckets), rows of unit length."""
    if idf is None:
        return words
    out = sparse.csr_matrix(words.multiply(idf[None, :]))
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ out)


def _design(
    examples: Sequence[Example],
    word_weight: float,
    yes_chunks: np.ndarray,
    yes_owner: np.ndarray,
    no_chunks: np.ndarray,
    no_owner: np.ndarray,
    idf: np.ndarray | None,
    scale: tuple[float, float] = (1.0, 1.0),
) -> sparse.csr_matrix:
    dense = _scaled(dense_features(examples, yes_chunks, yes_owner, no_chunks, no_owner), scale)
    words = weighted_words(_words_matrix(examples), idf) * word_weight
    return sparse.hstack([sparse.csr_matrix(dense), words], format="csr")


def _scaled(dense: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """The dense features as the solver sees them: the vector and the scalars each scaled (the
    same L2 penalty then weighs them differently); the weights learned are scaled back."""
    factors = np.ones(dense.shape[1], np.float32)
    factors[: dense.shape[1] - SCALARS] = scale[0]
    factors[dense.shape[1] - SCALARS :] = scale[1]
    return dense * factors


def _marked_chunks(
    examples: Sequence[Example],
) -> tuple[np.ndarray, np.ndarray]:
    parts = [e.chunks for e in examples if e.chunks.size]
    if not parts:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    owners = np.concatenate(
        [np.full(len(e.chunks), e.article, np.int64) for e in examples if e.chunks.size]
    )
    return np.vstack(parts).astype(np.float32), owners


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _fit(
    x: sparse.csr_matrix, labels: np.ndarray, weights: np.ndarray, c: float
) -> tuple[np.ndarray, float]:
    """Logistic regression's weights and intercept over all of x's columns."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    if len(set(labels.tolist())) < 2:
        # Only one class known (no anchors and no negatives): a constant model.
        return np.zeros(x.shape[1], np.float32), 10.0 if labels.size and labels[0] else -10.0
    # Positives and negatives weigh alike in total: a topic is rare in the news, and the
    # threshold must not move with how many unmarked articles were sampled.
    pos, neg = weights[labels == 1].sum(), weights[labels == 0].sum()
    weights = np.where(labels == 1, weights * (pos + neg) / (2 * pos), weights)
    weights = np.where(labels == 0, weights * (pos + neg) / (2 * neg), weights)
    # Only the columns some example has are fitted (a few thousand of the 2^18 buckets): the
    # solver's time follows the columns it carries.
    used = np.unique(x.indices)
    lr = LogisticRegression(C=c, max_iter=500, solver="lbfgs")
    # One BLAS thread: the problem is small, and threads fighting the daemon's and the model's
    # for two cores make a fit of a tenth of a second take seconds.
    with threadpool_limits(1):
        lr.fit(x[:, used], labels, sample_weight=weights)
    coef = np.zeros(x.shape[1], np.float32)
    coef[used] = lr.coef_[0]
    return coef, float(lr.intercept_[0])


def train(
    topic: str,
    marked: Sequence[tuple[Example, bool]],
    anchors: Sequence[Example],
    unlabelled: Sequence[Example],
    params: LearnerParams,
    version: int = 0,
) -> LearnedModel:
    """A topic's model from its marks (example, is about it), its description and exemplars
    (positive anchors) and a sample of unmarked articles (weak negatives)."""
    if marked:
        # Vectors of another model (an embedder changed since) cannot be compared.
        dim = marked[0][0].vector.size
        marked = [(e, v) for e, v in marked if e.vector.size == dim]
        anchors = [e for e in anchors if e.vector.size == dim]
        unlabelled = [e for e in unlabelled if e.vector.size == dim]
    yes = [e for e, v in marked if v]
    no = [e for e, v in marked if not v]
    yes_chunks, yes_owner = _marked_chunks([*anchors, *yes])
    no_chunks, no_owner = _marked_chunks(no)
    marked_ids = {e.article for e, _ in marked}
    pool = [e for e in unlabelled if e.article not in marked_ids]
    examples = [*yes, *anchors, *no, *pool]
    labels = np.array([1] * (len(yes) + len(anchors)) + [0] * (len(no) + len(pool)))
    weights = np.array(
        [1.0] * len(yes)
        + [params.anchor_weight] * len(anchors)
        + [1.0] * len(no)
        + [params.unlabelled_weight] * len(pool)
    )
    idf_index, idf_value, idf_default = idf_of(_words_matrix(examples))
    idf = _dense_idf(idf_index, idf_value, idf_default) if params.idf else None
    scale = (params.vector_scale, params.scalar_scale)
    x = _design(
        examples, params.word_weight, yes_chunks, yes_owner, no_chunks, no_owner, idf, scale
    )
    coef, intercept = _fit(x, labels, weights, params.c)
    first = len(examples) - len(pool)
    for _ in range(params.self_training):
        # The unmarked articles the model now finds about the topic stop counting against
        # it (and count for it, as weakly): a topic's share of the news is not all negative.
        z = x[first:] @ coef + intercept
        labels = np.concatenate([labels[:first], (z >= _logit(params.threshold)).astype(int)])
        coef, intercept = _fit(x, labels, weights, params.c)
    dim = x.shape[1] - (1 << HASH_BITS)
    word_coef = coef[dim:]
    nz = np.flatnonzero(word_coef)
    return LearnedModel(
        topic=topic,
        version=version,
        marks=len(marked),
        yes=len(yes),
        no=len(no),
        threshold=params.threshold,
        dense_coef=_scaled(coef[None, :dim], scale)[0],
        intercept=intercept,
        word_index=nz.astype(np.int64),
        word_coef=word_coef[nz].copy(),
        yes_chunks=yes_chunks,
        yes_owner=yes_owner,
        no_chunks=no_chunks,
        no_owner=no_owner,
        idf_index=idf_index if params.idf else np.zeros(0, np.int64),
        idf_value=idf_value if params.idf else np.zeros(0, np.float32),
        idf_default=np.array([idf_default if params.idf else 0.0]),
        word_weight=np.array([params.word_weight]),
        figures={"unlabelled": len(pool), "anchors": len(anchors)},
    )


def probability(model: LearnedModel, examples: Sequence[Example]) -> np.ndarray:
    """The model's probability that each example is about its topic."""
    if not examples:
        return np.zeros(0)
    dense = dense_features(
        examples, model.yes_chunks, model.yes_owner, model.no_chunks, model.no_owner
    )
    if dense.shape[1] != model.dense_coef.size:
        return np.zeros(len(examples))  # vectors of another model: nothing to say
    z = dense @ model.dense_coef + model.intercept
    if model.word_index.size:
        words = weighted_words(_words_matrix(examples), model._idf)  # type: ignore[attr-defined]
        z = z + words @ model._words  # type: ignore[attr-defined]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def cv_agreement(
    topic: str,
    marked: Sequence[tuple[Example, bool]],
    anchors: Sequence[Example],
    unlabelled: Sequence[Example],
    params: LearnerParams,
    folds: int = 5,
) -> float | None:
    """Share of the marks a model trained without them answers as the analyst did (k-fold
    cross-validation over the marks); None with fewer than two marks of each answer."""
    yes = sum(1 for _, v in marked if v)
    if yes < 2 or len(marked) - yes < 2:
        return None
    order = np.random.default_rng(0).permutation(len(marked))
    agree = 0
    for f in range(min(folds, len(marked))):
        held = set(order[f::folds].tolist())
        model = train(
            topic,
            [m for i, m in enumerate(marked) if i not in held],
            anchors,
            unlabelled,
            params,
        )
        tested = [marked[i] for i in sorted(held)]
        p = probability(model, [e for e, _ in tested])
        answers = zip(p, tested, strict=True)
        agree += sum(int((pi >= model.threshold) == v) for pi, (_, v) in answers)
    return agree / len(marked)


def to_ask(
    model: LearnedModel | None,
    candidates: Sequence[Example],
    n: int,
    marked: set[int] | frozenset[int] = frozenset(),
) -> list[tuple[int, float]]:
    """The candidates to ask the analyst about next, as (index, probability or meaning): the
    least certain first, or, without a model, the most like the description (a cold start)."""
    idx = [i for i, e in enumerate(candidates) if e.article not in marked]
    if not idx:
        return []
    chosen = [candidates[i] for i in idx]
    if model is None:
        meaning = np.array([e.meaning for e in chosen])
        order = np.argsort(-meaning, kind="stable")[:n]
        return [(idx[k], float(meaning[k])) for k in order]
    p = probability(model, chosen)
    order = np.argsort(np.abs(p - model.threshold), kind="stable")[:n]
    return [(idx[k], float(p[k])) for k in order]


_ARRAYS = (
    "dense_coef",
    "word_index",
    "word_coef",
    "yes_chunks",
    "yes_owner",
    "no_chunks",
    "no_owner",
    "idf_index",
    "idf_value",
    "idf_default",
    "word_weight",
)


def dump(model: LearnedModel) -> bytes:
    """A model's parameters as bytes (stored in `topic_models.parameters`)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        intercept=np.array([model.intercept]),
        **{name: getattr(model, name) for name in _ARRAYS},
    )
    return buf.getvalue()


def load(
    data: bytes,
    *,
    topic: str,
    version: int,
    marks: int,
    yes: int,
    no: int,
    threshold: float,
    learner: str,
    figures: dict[str, Any],
) -> LearnedModel:
    """A stored model back from its parameters and its row's columns."""
    with np.load(io.BytesIO(data)) as z:
        arrays = {name: z[name] for name in _ARRAYS}
        intercept = float(z["intercept"][0])
    return LearnedModel(
        topic=topic,
        version=version,
        marks=marks,
        yes=yes,
        no=no,
        threshold=threshold,
        intercept=intercept,
        learner=learner,
        figures=figures,
        **arrays,
    )


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
    return Example(
        np.asarray(embedding.vector, np.float32), chunks, text, meaning, words, article, hashed
    )
