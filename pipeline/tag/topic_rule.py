"""The parts of a topic's rule (pipeline/tag/topics.py says how they add up): which of its terms
an article's text matches, the keyword score they give, the mean of the best chunk similarities,
and the passage a tag keeps as evidence. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.models import Embedding
from pipeline.tag.topics_file import Term, Topic, fold

PASSAGE_CHARS = 300


@dataclass(frozen=True)
class LexicalMatch:
    """Keyword evidence of one topic in one text (negative terms already subtracted)."""

    terms: tuple[str, ...]
    weight: float
    context: bool
    negative: tuple[str, ...] = ()


def match_terms(topic: Topic, text: str) -> LexicalMatch:
    """Which of a topic's terms occur in a text (whole words, inflected, case-insensitive)."""
    folded = fold(text)
    found = [t for t in topic.keywords if t.found_in(text, folded)]
    against = [t for t in topic.negative if t.found_in(text, folded)]
    context = not topic.context or any(t.found_in(text, folded) for t in topic.context)
    weight = max(0.0, sum(t.weight for t in found) - sum(t.weight for t in against))
    return LexicalMatch(
        tuple(t.text for t in found), weight, context, tuple(t.text for t in against)
    )


def keyword_score(lexical: LexicalMatch) -> float:
    """The keyword part of a rule's score (0..1)."""
    return 1.0 - math.exp(-lexical.weight) if lexical.context else 0.0


def top_mean(values: np.ndarray, k: int = 2) -> float:
    """Mean of the k largest values (all of them when fewer)."""
    if values.size == 0:
        return 0.0
    k = min(k, values.size)
    return float(np.sort(values)[-k:].mean())


def passage(
    text: str, embedding: Embedding, chunk_scores: np.ndarray, terms: Sequence[Term]
) -> str:
    """The best chunk's most telling sentence(s), at most PASSAGE_CHARS characters."""
    if not text:
        return ""
    if chunk_scores.size:
        c = embedding.chunks[int(np.argmax(chunk_scores))]
        region = text[c.start_char : c.end_char]
    else:
        region = text
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(region.split()))
    best = max(sentences, key=lambda s: (sum(1 for t in terms if t.pattern.search(s)), len(s)))
    if len(best) > PASSAGE_CHARS:
        best = best[: PASSAGE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return best


@dataclass(frozen=True, eq=False)
class TopicReading:
    """One topic's reading of one article: its score and the parts the score is made of."""

    score: float
    meaning: float  # the raw similarity rescaled between floor and ceiling
    lexical: LexicalMatch
    per_chunk: np.ndarray  # each English chunk's similarity (empty when read by lead)
    raw: float  # the similarity before rescaling
    by_lead: bool  # meaning from the multilingual lead, not the English chunks
