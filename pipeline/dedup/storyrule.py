"""The thresholds of the story rules (pipeline/dedup/stories.py): the [dedup] settings a story
decision reads, and the floors below which a hit cannot count in one."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config.settings import DedupSettings


@dataclass(frozen=True)
class StoryRule:
    """The thresholds of the story decision: the [dedup] settings, which hold their defaults."""

    similarity: float
    min_similarity: float
    combined_score: float
    headline_similarity: float
    short_words: int
    lead_similarity: float
    support_similarity: float
    lead_support_gap: float
    support_from: int
    support_members: int
    lead_alone: float
    lead_min_similarity: float
    specifics_overlap: float
    english_lead: float

    @classmethod
    def from_settings(cls, s: DedupSettings) -> StoryRule:
        """The rule of a DedupSettings."""
        return cls(
            s.story_similarity,
            s.story_min_similarity,
            s.story_combined_score,
            s.story_headline_similarity,
            s.story_short_words,
            s.story_lead_similarity,
            s.story_support_similarity,
            s.story_lead_support_gap,
            s.story_support_from,
            s.story_support_members,
            s.story_lead_alone,
            s.story_lead_min_similarity,
            s.story_specifics_overlap,
            s.story_english_lead,
        )

    @property
    def candidate_floor(self) -> float:
        """The least best chunk (or headline) cosine that can count in a story decision."""
        return min(self.min_similarity, self.support_similarity, self.headline_similarity)

    def close_not_conclusive(self, meaning: float) -> bool:
        """Whether a best chunk cosine is close enough for other evidence to complete but not
        enough alone (where two English texts' leads are read: `meaning+lead`)."""
        return self.min_similarity <= meaning < self.similarity

    @property
    def lead_support(self) -> float:
        """The least lead cosine at which a member supports a new article across languages."""
        return self.lead_similarity - self.lead_support_gap

    @property
    def lead_floor(self) -> float:
        """The least centered lead cosine that can count in a story decision."""
        return min(self.lead_support, self.lead_min_similarity)
