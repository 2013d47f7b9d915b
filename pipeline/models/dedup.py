"""The deduplication records: what dedup reads of an article, what it decides, and the
story evidence stored with the decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

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
    specifics: float | None = None  # share of the specifics both texts give (across languages)

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
            **({"specifics": self.specifics} if self.specifics else {}),
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
            _float_or_none(data.get("specifics")),
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
