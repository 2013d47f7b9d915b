"""Frozen records passed between the stages of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.embed import Embedding


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


@dataclass(frozen=True)
class DedupDecision:
    """Whether an article copies an earlier one (which, how closely, how), and its story."""

    duplicate_of: int | None
    similarity: float | None
    kind: str | None
    story_id: int


@dataclass(frozen=True)
class ArticleDraft:
    """An article with its final text and metadata, before embedding, dedup and tagging."""

    source: str                      # 'seed' | 'feed'
    url: str
    title: str
    text: str
    text_source: str                 # 'page' | 'feed' | 'file'
    fetched_at: datetime
    feed_id: int | None = None
    canonical_url: str | None = None
    guid: str | None = None
    entry_key: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    lang: str | None = None
    site_name: str | None = None
    description: str | None = None
    text_source_reason: str | None = None
    seed_file_hash: str | None = None


@dataclass(frozen=True)
class StoredArticle:
    """An article ready to be written: draft, id, content hash, vectors, dedup decision, tags."""

    id: int
    draft: ArticleDraft
    content_hash: str
    word_count: int
    embedding: Embedding
    dedup: DedupDecision
    tags: TagResult
