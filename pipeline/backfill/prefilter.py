"""The cheap test an archive page passes before it is embedded (pure).

Embedding is the costly step of a backfill after extraction, and most pages of a news crawl
are about something else. A page passes when its title or text names a topic keyword (the
topics file's `keywords`, with the tagger's own inflection patterns) or a watchlist alias (the
watchlist's own matcher). Seed relevance above a floor was the other candidate and is not used:
it needs the embedding the prefilter exists to avoid. bench/backfill.py measures the recall:
the share of pages the full pipeline tags or finds on-topic that pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.tag.topics import load_topics, term_pattern
from pipeline.tag.watchlist import WatchEntity, Watchlist, load_watchlist

_BEFORE, _AFTER = r"(?<![\w-])", r"(?![\w])"


@dataclass(frozen=True)
class PrefilterSpec:
    """What the prefilter looks for, as plain data sent to the workers (no files there)."""

    terms: tuple[str, ...] = ()
    entities: tuple[WatchEntity, ...] = ()
    enabled: bool = True  # False: every page passes


def load_spec(
    topics_file: Path,
    watchlist_file: Path | None,
    seeds_dir: Path | None = None,
    *,
    enabled: bool = True,
) -> PrefilterSpec:
    """The topic keywords and watchlist entities the settings name."""
    terms = sorted(
        {t.text for topic in load_topics(topics_file, seeds_dir) for t in topic.keywords}
    )
    return PrefilterSpec(tuple(terms), load_watchlist(watchlist_file).entities, enabled)


class Prefilter:
    """Finds the first keyword or watchlist alias a page names."""

    def __init__(self, spec: PrefilterSpec) -> None:
        self.spec = spec
        self._patterns = [(t, term_pattern(t)) for t in spec.terms]
        # One alternation scans a text once; per-term searches cost as much as extraction.
        # Every term pattern is (?<![\w-])BODY(?![\w]): the boundaries are checked once.
        bodies = [p.pattern.removeprefix(_BEFORE).removesuffix(_AFTER) for _, p in self._patterns]
        self._any = (
            re.compile(_BEFORE + "(?:" + "|".join(bodies) + ")" + _AFTER, re.IGNORECASE)
            if bodies
            else None
        )
        self._watchlist = Watchlist(spec.entities)

    def reason(self, title: str, text: str) -> str | None:
        """Why a page passes ('keyword: X', 'watchlist: Y', 'no prefilter'), or None."""
        if not self.spec.enabled:
            return "no prefilter"
        for part in (title, text):
            hit = self._any.search(part) if self._any is not None else None
            if hit is not None:
                term = next(
                    (t for t, p in self._patterns if p.fullmatch(hit.group(0))), hit.group(0)
                )
                return f"keyword: {term}"
        for part in (title, text):
            found = self._watchlist.find(part)
            if found:
                return f"watchlist: {self.spec.entities[found[0][0]].name}"
        return None
