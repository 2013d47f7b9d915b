"""Why, in a line: the stored story and topic evidence as the pages show it beside a report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.models import (
    CopyEvidence,
    JoinedStoryEvidence,
    NewStoryEvidence,
    story_evidence_from_json,
)


def story_why(evidence: Mapping[str, Any] | None) -> str:
    """How an article came into its story, from the evidence stored when it was decided."""
    ev = story_evidence_from_json(evidence)
    if ev is None:
        return ""
    if isinstance(ev, CopyEvidence):
        return f"copy of #{ev.of} ({ev.kind}, {ev.similarity})"
    if isinstance(ev, NewStoryEvidence):
        return "first report"
    assert isinstance(ev, JoinedStoryEvidence)
    link = ev.link
    scores = [
        f"{name} {value}"
        for name, value in (
            ("meaning", link.meaning),
            ("words", link.words),
            ("headline", link.headline),
            ("lead", link.lead),
        )
        if value
    ]
    joined = f"joined by {link.rule} with #{link.via}"
    if ev.retold is not None:
        joined += f", retelling #{ev.retold.via} in another language"
    return f"{joined} ({', '.join(scores)})" if scores else joined


def topic_why(evidence: Mapping[str, Any] | None) -> str:
    """The parts of a topic's score: meaning, words, threshold."""
    ev = evidence or {}
    parts = []
    if ev.get("meaning") is not None:
        source = f" (from the {ev['meaning_from']})" if ev.get("meaning_from") else ""
        parts.append(f"meaning {ev['meaning']}{source}")
    if ev.get("words") is not None:
        parts.append(f"words {ev['words']}")
    if ev.get("threshold") is not None:
        parts.append(f"threshold {ev['threshold']}")
    if ev.get("copy_of") is not None:
        parts.append(f"as its original #{ev['copy_of']}")
    return ", ".join(parts)
