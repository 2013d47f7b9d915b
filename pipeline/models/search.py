"""The search records: filters, the hits of each ranking, and the fused results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SearchFilters:
    """What restricts a search besides the query: a start date, a topic, a watchlist entity."""

    since: datetime | None = None
    topic: str | None = None
    entity: str | None = None


@dataclass(frozen=True)
class Phrase:
    """A quoted phrase of a query: its analysed terms with their places in it (from its first
    term), and a regular expression (Python's) finding it in a text (for articles indexed
    without positions, and for a phrase with a function word, which no index holds)."""

    terms: tuple[tuple[int, str], ...]
    pattern: str
    complete: bool = True  # every word of the phrase is a term of the index


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
    content_hash: str = ""  # which stored text `text` is (pipeline/store/textstore.py)


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
