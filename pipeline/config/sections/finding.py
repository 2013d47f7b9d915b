"""Settings of what newswatch looks for: topics, the watchlist and search."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.sections.options import opt


@dataclass(frozen=True)
class TopicsSettings:
    file: Path = opt("topics.toml", "topic definitions", path=True)
    min_relevance: float = opt(
        0.5, "similarity to the seeds below which an untagged article is off-topic", lo=0.0, hi=1.0
    )
    lead_sim_floor: float = opt(
        0.80,
        "multilingual lead cosine to a topic that unrelated news reaches (articles not in English)",
        lo=0.0,
        hi=1.0,
    )
    lead_sim_ceiling: float = opt(
        0.88,
        "multilingual lead cosine to a topic that is a clear match (articles not in English)",
        lo=0.0,
        hi=1.0,
    )
    # A topic's own keys in the topics file win over these.
    default_threshold: float = opt(
        0.5, "score from which a topic is given, for a topic that sets no threshold", lo=0, hi=1
    )
    default_semantic_weight: float = opt(
        0.6,
        "share of meaning (the rest: keywords) in a topic's score, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_sim_floor: float = opt(
        0.25,
        "chunk similarity to a topic that unrelated news reaches, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_sim_ceiling: float = opt(
        0.6,
        "chunk similarity to a topic that is a clear match, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_min_keyword_weight: float = opt(
        1.0,
        "keyword weight a topic needs unless its meaning alone suffices, for a topic that sets "
        "none",
        lo=0,
        hi=100,
    )
    default_meaning_alone: float = opt(
        0.95,
        "meaning from which a topic is given without its keywords, for a topic that sets none",
        lo=0,
        hi=1.01,
    )
    # The learned part of a topic with marks (pipeline/tag/learned.py).
    learn: bool = opt(True, "topics with marks learn from them (false: the rule alone decides)")
    learn_c: float = opt(
        1.0, "inverse regularisation strength of a topic's learned model", lo=1e-4, hi=1e4
    )
    learn_word_weight: float = opt(
        1.0,
        "weight of an article's hashed words against its vectors in a learned model",
        lo=0,
        hi=100,
    )
    learn_unlabelled_weight: float = opt(
        0.05, "weight of one unmarked stored article as a negative when a topic learns", lo=0, hi=1
    )
    learn_sample: int = opt(
        2000,
        "unmarked stored articles (the newest) a topic learns the news at large from",
        lo=0,
        hi=100000,
    )
    learn_threshold: float = opt(
        0.5, "probability from which a learned topic is given", lo=0.01, hi=0.99
    )
    learn_novelty: float = opt(
        0.5,
        "how far the trainer prefers articles unlike every marked one (and the description) to "
        "the least certain (0: the least certain alone)",
        lo=0,
        hi=10,
    )


@dataclass(frozen=True)
class WatchlistSettings:
    file: Path = opt(
        "watchlist.toml",
        "watchlist entities ([[entities]] tables); a missing file means no watchlist",
        path=True,
    )


@dataclass(frozen=True)
class SearchSettings:
    file: Path = opt("searches.toml", "saved searches ([[searches]] tables)", path=True)
    depth: int = opt(
        100, "articles taken from each ranking (full text, meaning) before fusion", lo=10, hi=10000
    )
    rrf_k: float = opt(
        60.0, "reciprocal rank fusion constant: higher flattens rank differences", lo=1, hi=1000
    )
    text_weight: float = opt(1.0, "weight of the full-text ranking in the fusion", lo=0, hi=10)
    meaning_weight: float = opt(1.0, "weight of the meaning ranking in the fusion", lo=0, hi=10)
    meaning_floor: float = opt(
        0.25,
        "an article found by meaning alone (not by its words) needs at least this cosine, in "
        "meaning and hybrid search (bench/search_eval.py measures the trade-off)",
        lo=0.0,
        hi=1.0,
    )
    coverage_power: float = opt(
        2.0,
        "in hybrid search, a full-text hit counts by the share of the "
        "query's words (idf-weighted) it holds to this power; 0: "
        "plain reciprocal rank fusion",
        lo=0.0,
        hi=10.0,
    )
    min_similarity: float = opt(
        0.5,
        "alerts: a saved search matches an article by meaning from "
        "this cosine (a search's own min_similarity wins)",
        lo=0.0,
        hi=1.0,
    )
    lead_min_similarity: float = opt(
        0.80,
        "an article in another language than English is found "
        "by its multilingual title + lead vector from this "
        "query cosine",
        lo=0.0,
        hi=1.0,
    )
