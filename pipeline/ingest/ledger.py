"""The bookkeeping of one ingest cycle, owned by one object behind one lock.

The event loop (feed polls, article pages) and the writer thread (batches) both report to the
ledger, and no other code keeps cycle state. It answers three questions:

- which new entries still need their page (an entry whose canonical URL is stored, or claimed by
  another entry of this cycle, becomes an alias of that article instead);
- when a feed's poll may be recorded: only once every new entry of it is settled (stored, an
  alias, or given up until the next cycle), so a crash never hides entries behind a new ETag;
- whether a feed must be read in full next time (an entry not stored: its poll is recorded
  without the new ETag and body hash).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.models import FeedEntry, FeedState, PollOutcome, StoredArticle


@dataclass(frozen=True)
class Item:
    """A new feed entry on its way to becoming an article."""

    feed: FeedState
    entry: FeedEntry
    canonical: str | None
    allow_private: bool


@dataclass(frozen=True)
class CycleSummary:
    """What one ingest cycle did."""

    feeds_polled: int = 0
    feeds_failed: int = 0
    feeds_not_modified: int = 0
    entries_seen: int = 0
    new_entries: int = 0
    known_urls: int = 0
    articles_new: int = 0
    from_page: int = 0
    from_feed: int = 0
    duplicates: int = 0
    deferred: int = 0
    write_failures: int = 0
    alerts_raised: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    feed_errors: tuple[str, ...] = ()
    stage_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False

    def counts(self) -> dict[str, object]:
        """Counts for the `runs` table and the log line."""
        return {
            "feeds_polled": self.feeds_polled,
            "feeds_failed": self.feeds_failed,
            "feeds_not_modified": self.feeds_not_modified,
            "entries_seen": self.entries_seen,
            "new_entries": self.new_entries,
            "known_urls": self.known_urls,
            "articles_new": self.articles_new,
            "from_page": self.from_page,
            "from_feed": self.from_feed,
            "duplicates": self.duplicates,
            "deferred": self.deferred,
            "write_failures": self.write_failures,
            "alerts_raised": self.alerts_raised,
            "alerts_sent": self.alerts_sent,
            "alerts_failed": self.alerts_failed,
            "per_topic": dict(self.per_topic),
            "interrupted": self.interrupted,
        }


_COUNTERS = [f.name for f in dataclasses.fields(CycleSummary) if f.type in ("int", int)]

AliasRow = tuple[int, str, str, int, datetime]


class Ledger:
    """Per-feed state of one cycle; every method is atomic (one lock)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {name: 0 for name in _COUNTERS}
        self._per_topic: dict[str, int] = {}
        self._feed_errors: list[str] = []
        self._outcomes: dict[int, PollOutcome] = {}
        self._new_entries: dict[int, int] = {}  # feed id -> entries not seen before
        self._pending: dict[int, int] = {}  # feed id -> items not settled yet
        self._incomplete: set[int] = set()  # feeds to read in full next cycle
        self._due_again: set[int] = set()  # feeds with entries left unstored: due at once
        self._claimed: dict[str, int | None] = {}  # canonical URL -> article id (None: pending)
        self._aliases: list[tuple[int, str, str, datetime]] = []  # waiting for their article

    # -- polls ------------------------------------------------------------------------------

    def polled(
        self,
        feed: FeedState,
        outcome: PollOutcome,
        fresh: Sequence[FeedEntry],
        canonicals: dict[str, str | None],
        known: dict[str, int],
        allow_private: bool,
    ) -> tuple[list[Item], bool]:
        """Record a poll and its entries not seen before; return the items whose pages are
        to be fetched and whether the feed is settled already (nothing to fetch)."""
        items: list[Item] = []
        with self._lock:
            self._outcomes[feed.id] = outcome
            self._counts["feeds_polled"] += 1
            if outcome.status in ("error", "gone"):
                self._counts["feeds_failed"] += 1
                self._feed_errors.append(
                    f"{feed.url}: {outcome.error_kind}: {outcome.error_message}"
                )
            elif outcome.status in ("not_modified", "unchanged"):
                self._counts["feeds_not_modified"] += 1
            self._counts["entries_seen"] += len(outcome.entries)
            self._counts["new_entries"] += len(fresh)
            self._new_entries[feed.id] = len(fresh)
            for entry in fresh:
                canon = canonicals.get(entry.key)
                if canon and canon in known:
                    self._counts["known_urls"] += 1
                    self._aliases.append((feed.id, entry.key, canon, self.now))
                    self._claimed.setdefault(canon, known[canon])
                elif canon and canon in self._claimed:
                    self._counts["known_urls"] += 1
                    self._aliases.append((feed.id, entry.key, canon, self.now))
                else:
                    if canon:
                        self._claimed[canon] = None
                    items.append(Item(feed, entry, canon, allow_private))
            self._pending[feed.id] = self._pending.get(feed.id, 0) + len(items)
            return items, self._pending[feed.id] == 0

    # -- pages ------------------------------------------------------------------------------

    def page_named(self, item: Item, canonical: str | None) -> tuple[bool, list[int]]:
        """The canonical URL an entry's page names. Returns (go on, feeds settled): when
        another entry has that URL, this entry becomes its alias and is settled."""
        with self._lock:
            if canonical and canonical != item.canonical and canonical in self._claimed:
                self._counts["known_urls"] += 1
                self._aliases.append((item.feed.id, item.entry.key, canonical, self.now))
                if item.canonical and self._claimed.get(item.canonical, 0) is None:
                    del self._claimed[item.canonical]
                return False, self._settle_locked([item.feed.id])
            if canonical and canonical != item.canonical:
                self._claimed[canonical] = None
            return True, []

    def deferred(self, item: Item) -> list[int]:
        """An entry's page is to be tried next cycle; return the feeds settled now."""
        with self._lock:
            self._counts["deferred"] += 1
            self._incomplete.add(item.feed.id)
            return self._settle_locked([item.feed.id])

    def settle(self, items: Iterable[Item]) -> list[int]:
        """Items leave the cycle (about to be written); return the feeds with none left."""
        with self._lock:
            return self._settle_locked([i.feed.id for i in items])

    def _settle_locked(self, feed_ids: Sequence[int]) -> list[int]:
        finished = []
        for fid in feed_ids:
            self._pending[fid] -= 1
            if self._pending[fid] == 0:
                finished.append(fid)
        return finished

    # -- writes -----------------------------------------------------------------------------

    def stored(self, articles: Sequence[StoredArticle]) -> None:
        """A batch was committed: its URLs now name stored articles."""
        with self._lock:
            for a in articles:
                if a.draft.canonical_url:
                    self._claimed[a.draft.canonical_url] = a.id
                self._counts["articles_new"] += 1
                self._counts["from_page" if a.draft.text_source == "page" else "from_feed"] += 1
                if a.dedup.duplicate_of is not None:
                    self._counts["duplicates"] += 1
                else:
                    for t in a.tags.topics:
                        self._per_topic[t.topic] = self._per_topic.get(t.topic, 0) + 1

    def not_written(self, items: Iterable[Item]) -> None:
        """A batch was not written: its feeds are read in full next cycle."""
        with self._lock:
            for item in items:
                self._counts["write_failures"] += 1
                self._incomplete.add(item.feed.id)
                self._due_again.add(item.feed.id)

    def count(self, name: str, n: int = 1) -> None:
        """Add to one of the summary's counters (alerts raised, sent, failed)."""
        with self._lock:
            self._counts[name] += n

    def ready_aliases(self) -> list[AliasRow]:
        """Aliases whose article is stored now, to record (each is returned once)."""
        with self._lock:
            ready, waiting = [], []
            for feed_id, key, canon, seen in self._aliases:
                article_id = self._claimed.get(canon)
                if article_id is None:
                    waiting.append((feed_id, key, canon, seen))
                else:
                    ready.append((feed_id, key, canon, article_id, seen))
            self._aliases = waiting
            return ready

    def final_outcome(self, feed_id: int) -> tuple[PollOutcome, int]:
        """The poll outcome to record and its count of new entries; a feed with an unsettled
        or unstored entry is recorded without its new ETag, so it is read again in full, and
        due at once (the next cycle, or the next start after a stop) rather than an interval
        later."""
        with self._lock:
            outcome = self._outcomes[feed_id]
            if feed_id in self._incomplete:
                outcome = dataclasses.replace(
                    outcome, etag=None, last_modified=None, body_hash=None
                )
            if feed_id in self._due_again:
                outcome = dataclasses.replace(
                    outcome, next_poll_at=min(outcome.next_poll_at, outcome.polled_at)
                )
            return outcome, self._new_entries.get(feed_id, 0)

    def unsettled(self) -> list[int]:
        """Feeds with entries left when the cycle ends (stopped early): marked incomplete."""
        with self._lock:
            left = [fid for fid, n in self._pending.items() if n > 0]
            self._incomplete.update(left)
            self._due_again.update(left)
            return left

    def summary(self, stage_s: dict[str, float], interrupted: bool) -> CycleSummary:
        """The cycle's counts."""
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
            return CycleSummary(
                **counts,
                per_topic=dict(sorted(self._per_topic.items())),
                feed_errors=tuple(self._feed_errors),
                stage_s=dict(stage_s),
                interrupted=interrupted,
            )
