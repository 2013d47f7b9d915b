"""Training a topic's learned part (pipeline/tag/learned.py) from its marks, its description and
exemplars (positive anchors) and a sample of unmarked articles (weak negatives), and measuring how
well a model trained without each mark answers it. Pure: examples in, model out.

scikit-learn (seconds to import) is imported by the fit, scipy by the design matrix: neither is
loaded by the commands that never train.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.tag.learned_features import (
    HASH_BITS,
    SCALARS,
    Example,
    dense_features,
    dense_idf,
    idf_of,
    weighted_words,
    words_matrix,
)
from pipeline.tag.learned_model import LearnedModel, probability

if TYPE_CHECKING:
    from scipy import sparse  # type: ignore[import-untyped]


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
    # The headline vector's scale: a headline says what the story is in a dozen words, which the
    # pooled vector of a long text blurs. Half the pooled vector's (replayed on Reuters-21578,
    # README.md: 0.25, 0.5 and 1 measured, by hash and by date).
    title_scale: float = 0.5
    scalar_scale: float = 1.0  # the rule's scores' and the closeness to marks' scale
    idf: bool = False  # words weighted by their inverse document frequency (measured: no gain)


def _design(
    examples: Sequence[Example],
    word_weight: float,
    yes_chunks: np.ndarray,
    yes_owner: np.ndarray,
    no_chunks: np.ndarray,
    no_owner: np.ndarray,
    idf: np.ndarray | None,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> sparse.csr_matrix:
    # scipy is heavy: imported on first use (see the module's docstring)
    from scipy import sparse

    dense = _scaled(dense_features(examples, yes_chunks, yes_owner, no_chunks, no_owner), scale)
    words = weighted_words(words_matrix(examples), idf) * word_weight
    return sparse.hstack([sparse.csr_matrix(dense), words], format="csr")


def _scaled(dense: np.ndarray, scale: tuple[float, float, float]) -> np.ndarray:
    """The dense features as the solver sees them: the pooled vector, the headline vector and
    the scalars each scaled (the same L2 penalty then weighs them differently); the weights
    learned are scaled back."""
    dim = (dense.shape[1] - SCALARS) // 2
    factors = np.ones(dense.shape[1], np.float32)
    factors[:dim] = scale[0]
    factors[dim : 2 * dim] = scale[1]
    factors[2 * dim :] = scale[2]
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
    # scikit-learn is heavy (threadpoolctl comes with it): imported on first use (see the
    # module's docstring)
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


def _of_one_model(
    marked: Sequence[tuple[Example, bool]],
    anchors: Sequence[Example],
    unlabelled: Sequence[Example],
) -> tuple[list[tuple[Example, bool]], list[Example], list[Example]]:
    """The examples whose vectors are of the first mark's model (vectors of another model, an
    embedder changed since, cannot be compared)."""
    if not marked:
        return list(marked), list(anchors), list(unlabelled)
    dim = marked[0][0].vector.size
    return (
        [(e, v) for e, v in marked if e.vector.size == dim],
        [e for e in anchors if e.vector.size == dim],
        [e for e in unlabelled if e.vector.size == dim],
    )


def _self_train(
    x: sparse.csr_matrix,
    labels: np.ndarray,
    weights: np.ndarray,
    first: int,
    fitted: tuple[np.ndarray, float],
    params: LearnerParams,
) -> tuple[np.ndarray, float]:
    """`params.self_training` rounds: the unmarked articles (from row `first`) the model now
    finds about the topic stop counting against it (and count for it, as weakly): a topic's
    share of the news is not all negative."""
    coef, intercept = fitted
    for _ in range(params.self_training):
        z = x[first:] @ coef + intercept
        labels = np.concatenate([labels[:first], (z >= _logit(params.threshold)).astype(int)])
        coef, intercept = _fit(x, labels, weights, params.c)
    return coef, intercept


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
    marked, anchors, unlabelled = _of_one_model(marked, anchors, unlabelled)
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
    idf_index, idf_value, idf_default = idf_of(words_matrix(examples))
    idf = dense_idf(idf_index, idf_value, idf_default) if params.idf else None
    scale = (params.vector_scale, params.title_scale, params.scalar_scale)
    x = _design(
        examples, params.word_weight, yes_chunks, yes_owner, no_chunks, no_owner, idf, scale
    )
    first = len(examples) - len(pool)
    coef, intercept = _self_train(
        x, labels, weights, first, _fit(x, labels, weights, params.c), params
    )
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
