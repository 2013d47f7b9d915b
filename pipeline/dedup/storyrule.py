"""The rules of one story link (pipeline/dedup/stories.py decides a new article's story over its
links): the thresholds (the [dedup] settings a story decision reads, and the floors below which a
hit cannot count in one), the evidence between a new article and one stored article, which rule
makes it hold, whether a member agrees, and how strong a holding link is. Pure."""

from __future__ import annotations

from collections.abc import Sequence
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
    unlike_lead: float

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
            s.story_unlike_lead,
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


@dataclass(frozen=True)
class Hit:
    """Vector evidence between a new article and one stored article."""

    meaning: float = 0.0  # best chunk cosine
    headline: float = 0.0  # a short text's headline vs the other's chunks (either way)
    lead: float = 0.0  # centered multilingual lead cosine (pairs not both English)
    specifics: float = 0.0  # share of specifics found in both (with a lead cosine only)
    english_lead: float = 0.0  # centered lead cosine of two English texts (meaning close or more)


@dataclass(frozen=True)
class Link:
    """All the evidence between a new article and one member of a story."""

    member: int
    meaning: float
    headline: float
    words: float
    short: bool  # one of the two texts is short: its headline counts
    rule: str | None  # the rule that holds, or None
    lead: float = 0.0  # centered multilingual lead cosine (across languages)
    specifics: float = 0.0  # share of specifics found in both (across languages)
    english_lead: float = 0.0  # centered lead cosine of two English texts


def link_rule(
    meaning: float,
    headline: float,
    words: float,
    short: bool,
    rule: StoryRule,
    lead: float = 0.0,
    specifics: float = 0.0,
    english_lead: float = 0.0,
) -> str | None:
    """Which rule, if any, makes one link hold (see the module docstring)."""
    if meaning >= rule.similarity:
        return "meaning"
    if meaning >= rule.min_similarity and meaning + words >= rule.combined_score:
        return "meaning+words"
    if english_lead and meaning >= rule.min_similarity and english_lead >= rule.english_lead:
        return "meaning+lead"
    if short and headline >= rule.headline_similarity:
        return "headline"
    if lead >= rule.lead_similarity:
        return "lead"
    if lead and lead >= rule.lead_min_similarity and specifics >= rule.specifics_overlap:
        return "lead+specifics"
    return None


def agrees(link: Link, rule: StoryRule) -> bool:
    """Whether a member supports the new article's joining its story: its link holds, or it
    comes close (best chunk cosine >= `support_similarity`; across languages, lead cosine
    within `lead_support_gap` of the lead rule's threshold)."""
    return (
        link.rule is not None
        or link.meaning >= rule.support_similarity
        or (link.lead != 0.0 and link.lead >= rule.lead_support)
    )


def unlike(link: Link, rule: StoryRule) -> bool:
    """Whether a member is unlike the new article: two English texts whose best passages are
    close (the same subject) but whose link does not hold and whose openings, read by the lead
    model, are far apart (centered lead cosine < `unlike_lead`): another event."""
    return (
        link.rule is None
        and link.english_lead != 0.0  # read only where the best chunk is close
        and link.english_lead < rule.unlike_lead
    )


def retold(links: Sequence[Link], rule: StoryRule) -> Link | None:
    """The member the new article retells in another language (lead >= `lead_alone`), if any."""
    return max(
        (lk for lk in links if lk.rule == "lead" and lk.lead >= rule.lead_alone),
        key=lambda lk: lk.lead,
        default=None,
    )


def is_short(text: str, rule: StoryRule) -> bool:
    """Whether a text is too short to be judged by its body alone."""
    return len(text.split()) < rule.short_words


#: The rules that hold by a lead cosine: their links are ranked by it, after the English ones.
_LEAD_RULES = frozenset({"lead", "lead+specifics", "meaning+lead"})


def strength(link: Link) -> tuple[int, float, float, float]:
    """How strong a holding link is, to rank a new article's stories by (a tuple: higher is
    stronger)."""
    # The English model's evidence first: a lead cosine is on another (centered) scale. A link
    # that holds only with a lead cosine's help (an English pair's included) is as strong as that
    # cosine: a close retelling in another language outranks it.
    if link.rule in _LEAD_RULES:
        return (0, max(link.lead, link.english_lead), link.meaning, link.words)
    return (1, max(link.meaning, link.headline), link.lead, link.words)


def strongest(links: Sequence[Link]) -> Link | None:
    """The strongest of some links (`strength`), None when there are none."""
    return max(links, key=strength) if links else None
