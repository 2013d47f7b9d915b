"""Frozen records passed between the stages of the pipeline: their one home.

Stages and the store import these (`from pipeline.models import X`); a record never imports a
stage. One module per stage's records, in the order data flows: feeds (configured, polled,
parsed), vectors, topics, dedup (decisions and story evidence), articles (drafts, stored), search,
alerts.
"""

from pipeline.models.alerts import (
    AlertMessage,
)
from pipeline.models.articles import (
    ArticleDraft,
    EntityMatch,
    IndexedTerms,
    StoredArticle,
)
from pipeline.models.dedup import (
    CopyEvidence,
    DedupDecision,
    DedupDoc,
    JoinedStoryEvidence,
    NewStoryEvidence,
    StoredDuplicate,
    StoryEvidence,
    StoryLink,
    StoryMerge,
    merge_evidence,
    story_evidence_from_json,
)
from pipeline.models.feeds import (
    FeedConfig,
    FeedEntry,
    FeedState,
    ParsedFeed,
    PollOutcome,
)
from pipeline.models.search import (
    ArticleInfo,
    MeaningHit,
    Phrase,
    SearchFilters,
    SearchHit,
    StoryResult,
    TextHit,
)
from pipeline.models.topics import (
    TagResult,
    TopicTag,
)
from pipeline.models.vectors import (
    Chunk,
    Embedding,
    Span,
)

__all__ = [
    "AlertMessage",
    "ArticleDraft",
    "ArticleInfo",
    "Chunk",
    "CopyEvidence",
    "DedupDecision",
    "DedupDoc",
    "Embedding",
    "EntityMatch",
    "FeedConfig",
    "FeedEntry",
    "FeedState",
    "IndexedTerms",
    "JoinedStoryEvidence",
    "MeaningHit",
    "NewStoryEvidence",
    "ParsedFeed",
    "PollOutcome",
    "SearchFilters",
    "SearchHit",
    "Span",
    "StoredArticle",
    "StoredDuplicate",
    "StoryEvidence",
    "StoryLink",
    "StoryMerge",
    "StoryResult",
    "TagResult",
    "Phrase",
    "TextHit",
    "TopicTag",
    "merge_evidence",
    "story_evidence_from_json",
]
