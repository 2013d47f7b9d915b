"""The human-judged story pairs of ../shared/corpus/story-pairs (SemEval-2022 Task 8), and the
texts served on loopback as news pages behind one feed, all published the same day.

How the project reads the judgements (the corpus README): `Overall <= 1.5` is the same story,
`Overall >= 3.5` unrelated, anything between is related but not the same event.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from pipeline.testkit import SHARED
from pipeline.testkit.pages import article_page
from pipeline.testkit.server import LoopbackServer, rss

PAIRS_CSV = SHARED / "corpus" / "story-pairs" / "pairs.csv"
SAME_MAX = 1.5
UNRELATED_MIN = 3.5


@dataclass(frozen=True)
class StoryPair:
    """Two news texts and the annotators' mean 'same story?' score (1 same .. 4 unrelated)."""

    pair_id: str
    lang1: str
    lang2: str
    overall: float
    text1: str
    text2: str

    @property
    def label(self) -> str:
        """'same', 'unrelated' or 'related' (in between: not counted either way)."""
        if self.overall <= SAME_MAX:
            return "same"
        if self.overall >= UNRELATED_MIN:
            return "unrelated"
        return "related"


def load_pairs(
    path: Path = PAIRS_CSV, *, langs: Iterable[str] | None = None, same_language: bool = True
) -> list[StoryPair]:
    """Pairs from the CSV, optionally only those whose two texts are in one of `langs`."""
    wanted = set(langs) if langs is not None else None
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if same_language and row["lang1"] != row["lang2"]:
                continue
            if wanted is not None and not {row["lang1"], row["lang2"]} <= wanted:
                continue
            if not row["text1"].strip() or not row["text2"].strip():
                continue
            out.append(
                StoryPair(
                    row["pair_id"],
                    row["lang1"],
                    row["lang2"],
                    float(row["Overall"]),
                    row["text1"],
                    row["text2"],
                )
            )
    return out


def text_key(text: str) -> str:
    """A stable short name for one text (the same text in two pairs is one page)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def title_of(text: str) -> str:
    """The headline: the first line when the text has several, else its first 12 words."""
    text = text.strip()
    first = text.split("\n", 1)[0].strip()
    if "\n" in text and 0 < len(first.split()) <= 30:
        return first
    return " ".join(text.split()[:12])


def paragraphs_of(text: str) -> list[str]:
    """The text as paragraphs (by lines, else groups of three sentences) for an HTML page."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    if len(lines) >= 3:
        return lines
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)] or [text]


def pair_texts(pairs: Sequence[StoryPair], *, reverse: bool = False) -> list[tuple[str, str]]:
    """(text, lang) of every distinct text in arrival order: pair by pair, first text first (or
    everything reversed)."""
    seen: dict[str, tuple[str, str]] = {}
    for p in pairs:
        for text, lang in ((p.text1, p.lang1), (p.text2, p.lang2)):
            seen.setdefault(text_key(text), (text, lang))
    ordered = list(seen.values())
    return ordered[::-1] if reverse else ordered


def serve_texts(
    server: LoopbackServer,
    texts: Sequence[tuple[str, str]],
    day: datetime,
    feed_path: str = "/pairs.xml",
    times: Sequence[datetime] | None = None,
) -> tuple[str, dict[str, str]]:
    """Route each text as a news page and one feed listing them all, published on `day`; return
    the feed URL and {text key: page URL}.

    A cycle fetches a feed's entries newest first, so the first text gets the latest time (a
    second apart): the texts arrive in the given order. `times` gives each text its own
    publication time instead. The feed item carries the whole text too, so a page too short
    for the extractor still stores the text.
    """
    items, urls = [], {}
    for k, (text, lang) in enumerate(texts):
        when = times[k] if times is not None else day + timedelta(seconds=len(texts) - k)
        key = text_key(text)
        path = f"/story/{key}.html"
        title = title_of(text)
        page = article_page(
            html.escape(title), [html.escape(p) for p in paragraphs_of(text)], lang=lang
        )
        server.route(path, page, content_type="text/html; charset=utf-8")
        urls[key] = server.url(path)
        items.append(
            {
                "title": title,
                "link": urls[key],
                "guid": key,
                "pubDate": format_datetime(when),
                "content": html.escape(text).replace("]]>", "]] >"),
            }
        )
    server.route("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    server.route(feed_path, rss(items, title="story pairs"), content_type="application/rss+xml")
    return server.url(feed_path), urls


def folds(pairs: Sequence[StoryPair], k: int = 5, seed: int = 0) -> dict[str, int]:
    """{pair id: fold 0..k-1}: the pairs of each language pair and label dealt out in turn after
    a shuffle by `seed`, so every fold holds its share of each (cross-validation by pair)."""
    import random

    strata: dict[tuple[str, str, str], list[str]] = {}
    for p in sorted(pairs, key=lambda p: p.pair_id):
        langs = tuple(sorted((p.lang1, p.lang2)))
        strata.setdefault((langs[0], langs[1], p.label), []).append(p.pair_id)
    rng = random.Random(seed)
    out: dict[str, int] = {}
    offset = 0
    for key in sorted(strata):
        ids = strata[key]
        rng.shuffle(ids)
        for j, pair_id in enumerate(ids):
            out[pair_id] = (offset + j) % k
        offset += len(ids)  # the next stratum starts where this one left off: even fold sizes
    return out
