"""Fusing rankings and folding articles into stories (pure functions)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: float = 60.0, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Items of several best-first rankings by the sum of weight / (k + rank), best first.

    Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009) needs no comparable scores:
    BM25 and cosine live on different scales, ranks do not. Ties keep first-seen order.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def fold(
    ranked: Sequence[tuple[K, float]], story_of: Mapping[K, int]
) -> list[tuple[int, list[tuple[K, float]]]]:
    """Group a best-first ranking by story: stories in the order of their best item, each with
    its items best first (an item without a story is a story of its own)."""
    stories: dict[int, list[tuple[K, float]]] = {}
    for item, score in ranked:
        stories.setdefault(story_of.get(item, item), []).append((item, score))  # type: ignore[arg-type]
    return list(stories.items())
