"""The passage shown with a search result (pure): the sentences that best answer the query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.search.terms import analyze

PASSAGE_CHARS = 300

_SENTENCE_RE = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+|\n|$)")


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences (and lines) of a text."""
    spans = []
    for m in _SENTENCE_RE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def best_passage(
    text: str,
    terms: Sequence[str],
    *,
    span: tuple[int, int] | None = None,
    phrases: Sequence[re.Pattern] = (),
    limit: int = PASSAGE_CHARS,
) -> str:
    """The sentence holding the most distinct query terms (a quoted phrase counts most, the
    chunk closest in meaning breaks ties), with the sentences after it up to `limit` chars."""
    wanted = set(terms)
    spans = sentences(text)
    if not spans:
        return ""
    best, best_key = 0, None
    for i, (start, end) in enumerate(spans):
        piece = text[start:end]
        found = len(wanted.intersection(analyze(piece))) if wanted else 0
        phrase = sum(1 for p in phrases if p.search(piece))
        inside = span is not None and start < span[1] and end > span[0]
        key = (phrase, found, inside, -i)
        if best_key is None or key > best_key:
            best, best_key = i, key
    start = spans[best][0]
    end = spans[best][1]
    for _, e in spans[best + 1 :]:
        if e - start > limit:
            break
        end = e
    passage = " ".join(text[start:end].split())
    if len(passage) > limit:
        cut = passage[: limit - 1]
        passage = (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"
    return passage
