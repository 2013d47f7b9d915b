"""One trained version of a topic's learned part (pipeline/tag/learned.py): its probabilities,
what to ask the analyst next, and its parameters as stored bytes. Pure."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.tag.learned_features import (
    HASH_BITS,
    Example,
    dense_features,
    dense_idf,
    weighted_words,
    words_matrix,
)

#: The learner's name, stored with every version (a version trained otherwise is not applied).
LEARNER = "logreg-v2"  # v2: the headline vector read beside the pooled one


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
            dense_idf(self.idf_index, self.idf_value, float(self.idf_default[0]))
            if self.idf_default[0] > 0
            else None
        )
        w = np.zeros(1 << HASH_BITS, np.float32)
        w[self.word_index] = self.word_coef
        object.__setattr__(self, "_idf", idf)
        object.__setattr__(self, "_words", w * float(self.word_weight[0]))


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
        words = weighted_words(words_matrix(examples), model._idf)  # type: ignore[attr-defined]
        z = z + words @ model._words  # type: ignore[attr-defined]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def to_ask(
    model: LearnedModel | None,
    candidates: Sequence[Example],
    n: int,
    marked: set[int] | frozenset[int] = frozenset(),
    *,
    novelty: float,
) -> list[tuple[int, float]]:
    """The candidates to ask the analyst about next, as (index, probability or meaning): the
    least certain first, those unlike every marked article ahead of others by `novelty` times
    how unlike ([topics] learn_novelty); without a model, the most like the description (a cold
    start)."""
    idx = [i for i, e in enumerate(candidates) if e.article not in marked]
    if not idx:
        return []
    chosen = [candidates[i] for i in idx]
    if model is None:
        meaning = np.array([e.meaning for e in chosen])
        order = np.argsort(-meaning, kind="stable")[:n]
        return [(idx[k], float(meaning[k])) for k in order]
    p = probability(model, chosen)
    # Uncertainty alone asks again and again about kinds of article already marked, near the
    # boundary, and never about a kind the marks have not reached (on Reuters-21578 the Bank of
    # England's money-market notices, which Reuters files as money-fx): an article far from
    # every marked one (and from the description) comes first at equal uncertainty, and ahead
    # of a somewhat more certain one.
    score = np.abs(p - model.threshold) - novelty * (1.0 - _nearest_marked(model, chosen))
    order = np.argsort(score, kind="stable")[:n]
    return [(idx[k], float(p[k])) for k in order]


def _nearest_marked(model: LearnedModel, examples: Sequence[Example]) -> np.ndarray:
    """Each example's best cosine to the chunks of the marked articles and the anchors (1 where
    there are none to compare with: nothing is unlike them)."""
    marked = [c for c in (model.yes_chunks, model.no_chunks) if c.size]
    vectors = np.stack([e.vector for e in examples]).astype(np.float32)
    if not marked or marked[0].shape[1] != vectors.shape[1]:
        return np.ones(len(examples), np.float32)
    chunks = np.vstack([c for c in marked if c.shape[1] == vectors.shape[1]])
    return (vectors @ chunks.T).max(axis=1)


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
