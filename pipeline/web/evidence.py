"""Why, in a line: the stored story and topic evidence as the pages show it beside a report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def story_why(evidence: Mapping[str, Any] | None) -> str:
    """How an article came into its story, from the evidence stored when it was decided."""
    ev = evidence or {}
    rule = ev.get("rule")
    if not ev:
        return ""
    if rule == "copy":
        return f"copy of #{ev.get('of')} ({ev.get('kind')}, {ev.get('similarity')})"
    if rule == "new story":
        return "first report"
    scores = [
        f"{name} {ev[key]}"
        for name, key in (
            ("meaning", "meaning"),
            ("words", "words"),
            ("headline", "headline"),
            ("lead", "lead"),
        )
        if ev.get(key)
    ]
    joined = f"joined by {rule} with #{ev.get('via')}"
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
