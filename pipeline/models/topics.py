"""The topic records: the topics an article gets, with their scores and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TopicTag:
    """One topic given to an article, with its score and why."""

    topic: str
    score: float
    matched_terms: tuple[str, ...] = ()
    passage: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TagResult:
    """Every topic an article gets, its relevance to the seeds, and whether it is on-topic."""

    topics: tuple[TopicTag, ...]
    relevance: float
    on_topic: bool
