"""Frozen records passed between the stages of the pipeline: their one home.

Stages and the store import these; a record never imports a stage. Grouped in the order data
flows: feeds (configured, polled, parsed), vectors, articles (drafts, dedup, topics, stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

# -- feeds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedConfig:
    """One configured feed."""

    url: str
    title: str | None = None
    interval_s: int | None = None
    tags: tuple[str, ...] = ()
    allow_private: bool = False  # its entries' links may point at private addresses


@dataclass(frozen=True)
class FeedState:
    """A feed as stored in the `feeds` table."""

    id: int
    url: str
    config_url: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error_count: int = 0
    interval_s: int | None = None
    enabled: bool = True
    in_config: bool = True
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    allow_private: bool = False  # its entries' links may be private addresses (feeds.toml)


@dataclass(frozen=True)
class FeedEntry:
    """One feed item as plain data."""

    key: str  # stable: GUID, else canonical link, else hash of title + summary
    guid: str | None
    link: str | None  # absolute http(s) URL, or None
    title: str
    summary: str  # plain text
    content: str  # plain text of content:encoded / atom content ('' if none)
    author: str | None
    published_at: datetime  # UTC; the fetch time when missing or in the future
    tags: tuple[str, ...] = ()
    date_from_feed: bool = True


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: its title, link and entries (newest first)."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    bozo: bool = False
    bozo_reason: str | None = None


@dataclass(frozen=True)
class PollOutcome:
    """What one poll found, and the feed's state after it."""

    feed_id: int
    polled_at: datetime
    status: str  # ok | not_modified | unchanged | error | gone
    url: str  # after a permanent redirect
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    error_count: int
    next_poll_at: datetime
    http_status: int | None = None
    bytes: int = 0
    entries: tuple[FeedEntry, ...] = ()
    error_kind: str | None = None
    error_message: str | None = None
    duration_ms: int = 0
    enabled: bool = True
    disabled_reason: str | None = None
    title: str | None = None
    bozo_reason: str | None = None


# -- vectors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A window of word pieces mapped back to characters of the text."""

    start_char: int
    end_char: int
    tokens: int


@dataclass(frozen=True)
class Chunk:
    """One window of a text: its character span and its unit-norm vector."""

    start_char: int
    end_char: int
    tokens: int
    vector: np.ndarray


@dataclass(frozen=True)
class Embedding:
    """A text's chunk vectors and their pooled, unit-norm article vector."""

    model: str
    vector: np.ndarray
    chunks: tuple[Chunk, ...]
    windows: int = 0  # windows the whole text has (more than chunks: cut)
    title_vector: np.ndarray | None = None  # the headline's vector, when one was embedded
    lead_vector: np.ndarray | None = None  # multilingual title + lead vector (cross-lingual)
    lead_model: str = ""  # the model that made lead_vector

    @property
    def cut(self) -> bool:
        """Whether only the first part of the text was embedded ([embed] max_chunks)."""
        return self.windows > len(self.chunks)


# -- articles ----------------------------------------------------------------------------------


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


# Why an article is in its story, as decided and as stored in `articles.story_evidence` (JSON,
# read by analysts' SQL: `to_json` writes exactly the keys stored so far, and `from_json` reads
# every row written since stories kept evidence, keys missing from older rows included).


@dataclass(frozen=True)
class StoryLink:
    """The evidence between an article and one stored article `via`, a member of `story`."""

    via: int
    story: int
    meaning: float  # best chunk cosine
    words: float  # tf-idf cosine of the words both texts use
    headline: float | None = None  # one of the two texts is short: its headline's cosine
    lead: float | None = None  # centered multilingual lead cosine, when there was one
    rule: str | None = None  # the rule that makes the link hold, or None

    def to_json(self) -> dict[str, Any]:
        """The link as stored."""
        return {
            "via": self.via,
            "story": self.story,
            "meaning": self.meaning,
            "words": self.words,
            **({"headline": self.headline} if self.headline is not None else {}),
            **({"lead": self.lead} if self.lead else {}),
            **({"rule": self.rule} if self.rule else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoryLink:
        """A link as stored."""
        return cls(
            int(data["via"]),
            int(data["story"]),
            float(data.get("meaning", 0.0)),
            float(data.get("words", 0.0)),
            _float_or_none(data.get("headline")),
            _float_or_none(data.get("lead")),
            data.get("rule") or None,
        )


@dataclass(frozen=True)
class StoryMerge:
    """A story the article folded into its own: how close the two stories were, and the link
    that held with the merged story."""

    story: int
    closeness: float | None
    link: StoryLink

    def to_json(self) -> dict[str, Any]:
        """The merge as stored (also the `story_merges.evidence` of that merge)."""
        return {"story": self.story, "closeness": self.closeness, **self.link.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoryMerge:
        """A merge as stored."""
        return cls(
            int(data["story"]), _float_or_none(data.get("closeness")), StoryLink.from_json(data)
        )


@dataclass(frozen=True)
class CopyEvidence:
    """A copy follows its root original `of` into that one's story."""

    of: int
    story: int
    kind: str | None  # how the copy was confirmed ('hash', 'jaccard', 'containment')
    similarity: float | None
    rule: ClassVar[str] = "copy"

    def to_json(self) -> dict[str, Any]:
        """The evidence as stored."""
        return {
            "rule": self.rule,
            "of": self.of,
            "story": self.story,
            "kind": self.kind,
            "similarity": self.similarity,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CopyEvidence:
        """The evidence as stored."""
        return cls(
            int(data["of"]),
            int(data["story"]),
            data.get("kind"),
            _float_or_none(data.get("similarity")),
        )


@dataclass(frozen=True)
class NewStoryEvidence:
    """No earlier story's evidence held: the article starts a story."""

    nearest: StoryLink | None = None  # the strongest link found, though it did not hold
    refused: tuple[tuple[int, str], ...] = ()  # (story, why) held with, but not joined
    rule: ClassVar[str] = "new story"

    def to_json(self) -> dict[str, Any]:
        """The evidence as stored."""
        out: dict[str, Any] = {"rule": self.rule}
        if self.nearest is not None:
            out["nearest"] = self.nearest.to_json()
        if self.refused:
            out["refused"] = {str(s): why for s, why in self.refused}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NewStoryEvidence:
        """The evidence as stored."""
        nearest = data.get("nearest")
        return cls(StoryLink.from_json(nearest) if nearest else None, _refused(data))


@dataclass(frozen=True)
class JoinedStoryEvidence:
    """The article joined `link.story` by the link that held with `link.via`."""

    link: StoryLink  # the strongest link that holds; its rule is the evidence's rule
    members_agreeing: int  # members that support the joining (against bridge articles)
    members: int  # originals in the story when it was joined
    retold: StoryLink | None = None  # a member retold in another language, support enough
    shared_words: tuple[str, ...] | None = None  # the rarest words both texts use, when shown
    also_held: tuple[StoryLink, ...] = ()  # stories held with but not joined (at most three)
    merged: tuple[StoryMerge, ...] = ()  # stories folded into this one
    refused: tuple[tuple[int, str], ...] = ()  # (story, why) held with, but refused

    @property
    def rule(self) -> str:
        """The rule the article joined by."""
        return self.link.rule or ""

    @property
    def story(self) -> int:
        """The story joined."""
        return self.link.story

    def to_json(self) -> dict[str, Any]:
        """The evidence as stored: the link's keys at the top level."""
        out: dict[str, Any] = {"rule": self.rule, "story": self.story, **self.link.to_json()}
        out["members_agreeing"] = self.members_agreeing
        out["members"] = self.members
        if self.retold is not None:
            out["retold"] = self.retold.to_json()
        if self.shared_words is not None:
            out["shared_words"] = list(self.shared_words)
        if self.also_held:
            out["also_held"] = [lk.to_json() for lk in self.also_held]
        if self.merged:
            out["merged"] = [m.to_json() for m in self.merged]
        if self.refused:
            out["refused"] = {str(s): why for s, why in self.refused}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JoinedStoryEvidence:
        """The evidence as stored."""
        retold, words = data.get("retold"), data.get("shared_words")
        return cls(
            StoryLink.from_json({**data, "rule": data.get("rule")}),
            int(data.get("members_agreeing") or 0),
            int(data.get("members") or 0),
            StoryLink.from_json(retold) if retold else None,
            None if words is None else tuple(str(w) for w in words),
            tuple(StoryLink.from_json(lk) for lk in data.get("also_held") or ()),
            tuple(StoryMerge.from_json(m) for m in data.get("merged") or ()),
            _refused(data),
        )


StoryEvidence = CopyEvidence | NewStoryEvidence | JoinedStoryEvidence


def story_evidence_from_json(data: Mapping[str, Any] | None) -> StoryEvidence | None:
    """Story evidence as stored in `articles.story_evidence` (None for a row without any)."""
    if not data:
        return None
    rule = data.get("rule")
    if rule == CopyEvidence.rule:
        return CopyEvidence.from_json(data)
    if rule == NewStoryEvidence.rule:
        return NewStoryEvidence.from_json(data)
    return JoinedStoryEvidence.from_json(data)


def merge_evidence(evidence: StoryEvidence | None, story: int) -> StoryMerge | None:
    """The evidence of the merge of `story` that an article's decision made, if it made one."""
    if not isinstance(evidence, JoinedStoryEvidence):
        return None
    return next((m for m in evidence.merged if m.story == story), None)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _refused(data: Mapping[str, Any]) -> tuple[tuple[int, str], ...]:
    return tuple((int(s), str(why)) for s, why in (data.get("refused") or {}).items())


@dataclass(frozen=True)
class DedupDecision:
    """Whether an article copies an earlier one (which, how closely, how), and its story."""

    duplicate_of: int | None
    similarity: float | None
    kind: str | None
    story_id: int
    story_evidence: StoryEvidence | None = None  # why this story (None: not recorded)
    merged_stories: tuple[int, ...] = ()  # stories this article folded into story_id


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


@dataclass(frozen=True)
class DedupDoc:
    """What deduplication needs to know of one article."""

    id: int
    text: str
    content_hash: str
    lang: str | None
    published_at: datetime
    vector: np.ndarray
    chunk_vectors: np.ndarray
    is_seed: bool
    title_vector: np.ndarray | None = None  # the headline's vector (stories of short texts)
    lead_vector: np.ndarray | None = None  # multilingual title + lead (stories across languages)


@dataclass(frozen=True)
class StoredDuplicate:
    """A stored duplicate beside the article its duplicate_of names (no text: not stored)."""

    id: int
    text: str
    kind: str | None
    duplicate_of: int
    original_text: str | None


# -- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    """What restricts a search besides the query: a start date, a topic, a watchlist entity."""

    since: datetime | None = None
    topic: str | None = None
    entity: str | None = None


@dataclass(frozen=True)
class TextHit:
    """An article ranked by BM25 over its title and text, with the query terms it holds."""

    article_id: int
    score: float
    terms: tuple[str, ...]  # analysed query terms found in the article


@dataclass(frozen=True)
class MeaningHit:
    """An article ranked by its chunk closest in meaning to the query."""

    article_id: int
    similarity: float  # cosine of the best chunk
    start_char: int  # that chunk's span in the text
    end_char: int
    source: str = "chunks"  # which vectors found it


@dataclass(frozen=True)
class ArticleInfo:
    """What a search result shows of an article."""

    id: int
    title: str
    url: str
    source: str
    site: str | None
    published_at: datetime | None
    story_id: int
    duplicate_of: int | None
    text: str


@dataclass(frozen=True)
class SearchHit:
    """One article in the fused ranking and why it is there."""

    article: ArticleInfo
    score: float  # fused score (reciprocal ranks)
    text_rank: int | None  # 1-based rank in the full-text ranking, None if absent
    meaning_rank: int | None
    bm25: float | None
    similarity: float | None
    matched_terms: tuple[str, ...]  # the query's words the article contains
    passage: str


@dataclass(frozen=True)
class StoryResult:
    """One story in the results: its best-matching report, and how many reports it has."""

    story_id: int
    best: SearchHit
    reports: int  # articles stored in the story (copies included)
    matched: int  # of those, how many the search found
    article_ids: tuple[int, ...]  # the found ones, best first


# -- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertMessage:
    """What one alert says, whatever the channel: the story, the rule that matched, and why."""

    alert_id: int | None  # None: a test message (`newswatch alerts test`)
    rule: str
    story_id: int | None
    article_id: int | None
    title: str
    url: str
    source: str
    published_at: datetime | None
    reasons: tuple[str, ...] = ()  # what matched, with the evidence (entity context, scores)
    sources: tuple[str, ...] = ()  # outlets that reported the story so far
    created_at: datetime | None = None
    test: bool = False
    story_page: str = ""  # the story in the reading room, when [web] base_url is set
    mark_page: str = ""  # the article's page there, where the analyst marks it
