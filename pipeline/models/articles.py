"""The article records: a draft before the stages, and an article ready to be written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.models.dedup import DedupDecision
from pipeline.models.topics import TagResult
from pipeline.models.vectors import Embedding


@dataclass(frozen=True)
class ArticleDraft:
    """An article with its final text and metadata, before embedding, dedup and tagging."""

    source: str  # 'seed' | 'feed' (archive pages too: see archive_source)
    url: str
    title: str
    text: str
    text_source: str  # 'page' | 'feed' | 'file'
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
    archive_source: str | None = None  # backfill: the WARC file it was read from
    archive_record_id: str | None = None  # backfill: its WARC-Record-ID


@dataclass(frozen=True)
class IndexedTerms:
    """An article as the full-text index sees it: analysed terms with their counts."""

    analyzer: str  # version of the analyzer (pipeline/search/terms.py)
    length: int  # terms in all, title terms weighted
    counts: dict[str, int] = field(default_factory=dict)
    positions: dict[str, tuple[int, ...]] = field(default_factory=dict)  # word places of each term


@dataclass(frozen=True)
class EntityMatch:
    """A watchlist entity found in an article: how often, where first, and the words around it."""

    entity: str
    mentions: int
    first_offset: int | None  # character offset in the text; None: named in the title only
    evidence: str  # the sentence part around the first mention
    aliases: tuple[str, ...] = ()  # the spellings found, as the watchlist writes them


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
    entities: tuple[EntityMatch, ...] = ()  # watchlist entities named in title or text
    terms: IndexedTerms | None = None  # None: left for `newswatch init` to index
