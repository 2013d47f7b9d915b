"""The orchestrator: the one place that knows the order of the stages.

    drafts ──► content hash ──► embed (chunks, batched) ──► dedup (hash → near-duplicate → story)
           ──► topics + relevance ──► one transaction per batch

The CLI and the scheduler call into this module and add no logic of their own. `Pipeline` holds
what is worth keeping between cycles of the daemon: the loaded model, the dedup index and the
tagger; each is rebuilt from the warehouse when it is first needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.compose import compose_article
from pipeline.dedup import DedupDoc, DedupIndex
from pipeline.embed import Embedder, Embedding
from pipeline.errors import WarehouseBusyError
from pipeline.feedsconfig import load_feeds
from pipeline.http import Fetcher, is_private_host
from pipeline.models import ArticleDraft, DedupDecision, StoredArticle
from pipeline.pages import PageResult, fetch_page
from pipeline.poll import poll_feed
from pipeline.seeds import SeedDoc, load_seeds
from pipeline.settings import Settings
from pipeline.store import articles as article_store
from pipeline.store import dedup_store
from pipeline.store import entries as entry_store
from pipeline.store import feeds as feed_store
from pipeline.store import topics_store
from pipeline.store.db import Db, Warehouse
from pipeline.textnorm import content_hash, word_count
from pipeline.topics import Tagger, build_tagger
from pipeline.urls import canonical_url, pick_canonical

log = logging.getLogger(__name__)

#: How long a cycle waits to sync the feeds list before polling the known feeds read-only.
PREPARE_WAIT_S = 2.0


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings describe (the model loads on first use)."""
    e = settings.embed
    return Embedder(e.model, e.sha256, batch_size=e.batch_size,
                    overlap_tokens=e.chunk_overlap_tokens, device=e.device)


def make_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the settings name."""
    return Warehouse(settings.warehouse.path, busy_timeout_s=settings.warehouse.busy_timeout_s)


@dataclass(frozen=True)
class SeedSyncResult:
    """What loading the seed corpus changed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass
class Pipeline:
    """Long-lived services of the ingest stages (kept by the daemon between cycles)."""

    settings: Settings
    warehouse: Warehouse = None  # type: ignore[assignment]
    embedder: Embedder = None  # type: ignore[assignment]
    _index: DedupIndex | None = field(default=None, init=False)
    _tagger: Tagger | None = field(default=None, init=False)
    _tagger_mark: tuple = field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.warehouse is None:
            self.warehouse = make_warehouse(self.settings)
        if self.embedder is None:
            self.embedder = make_embedder(self.settings)

    # -- state kept between cycles -------------------------------------------------------------

    def refresh(self, db: Db) -> None:
        """Bring the dedup index and tagger up to date with what the warehouse holds."""
        if self._index is None:
            self._index = DedupIndex(self.settings.dedup, text_loader=self._load_texts)
        started, added = time.perf_counter(), 0
        for doc, decision in article_store.dedup_rows(db, after_id=self._index.max_id):
            self._index.add(doc, decision)
            added += 1
        if added > 1000:
            log.info("dedup index: %d articles loaded from the warehouse in %.1f s", added,
                     time.perf_counter() - started)
        seed_ids, seed_vectors = article_store.article_vectors(db, source="seed")
        # The tagger follows the seeds and the topics file: an edit applies to the next cycle.
        try:
            topics_mtime = self.settings.topics.file.stat().st_mtime_ns
        except OSError:
            topics_mtime = None
        mark = (tuple(seed_ids), topics_mtime)
        if self._tagger is None or mark != self._tagger_mark:
            _, seed_chunks = article_store.chunk_vectors(db, source="seed")
            self._tagger = build_tagger(self.settings, self.embedder, seed_vectors, seed_chunks)
            self._tagger_mark = mark

    def _load_texts(self, ids: Sequence[int]) -> dict[int, str]:
        """Stored texts of articles the index no longer keeps in memory."""
        with self.warehouse.connect(read_only=True) as db:
            return article_store.texts(db, ids)

    def forget(self, ids: Sequence[int]) -> None:
        """Drop articles from the in-memory index (a batch that was not written)."""
        if self._index is not None:
            self._index.remove(ids)

    def reset(self) -> None:
        """Drop all state; the next cycle rebuilds it from the warehouse."""
        self._index = None
        self._tagger = None
        self._tagger_mark = ()

    @property
    def index(self) -> DedupIndex:
        """The dedup index (call refresh first)."""
        assert self._index is not None, "refresh() first"
        return self._index

    @property
    def tagger(self) -> Tagger:
        """The topic tagger (call refresh first)."""
        assert self._tagger is not None, "refresh() first"
        return self._tagger

    # -- the stages ----------------------------------------------------------------------------

    def process(self, drafts: Sequence[ArticleDraft], first_id: int,
                timings: dict[str, float] | None = None) -> list[StoredArticle]:
        """Embed, deduplicate and tag a batch; ids are first_id, first_id + 1, ... in order."""
        t0 = time.perf_counter()
        embeddings = self.embedder.embed([d.text for d in drafts])
        t1 = time.perf_counter()
        out = self._decide_all([first_id + i for i in range(len(drafts))], drafts, embeddings)
        if timings is not None:
            timings["embed"] = timings.get("embed", 0.0) + (t1 - t0)
            timings["dedup_tag"] = timings.get("dedup_tag", 0.0) + (time.perf_counter() - t1)
        return out

    def _decide_all(self, ids: Sequence[int], drafts: Sequence[ArticleDraft],
                    embeddings: Sequence[Embedding]) -> list[StoredArticle]:
        """Hash, deduplicate (in order, so copies inside one batch are caught) and tag."""
        hashes = [content_hash(d.text) for d in drafts]
        docs = [DedupDoc(id=i, text=d.text, content_hash=h, lang=d.lang,
                         published_at=d.published_at or d.fetched_at, vector=e.vector,
                         chunk_vectors=np.stack([c.vector for c in e.chunks]),
                         is_seed=d.source == "seed")
                for i, d, e, h in zip(ids, drafts, embeddings, hashes)]
        decisions = self.index.decide(docs)
        return [StoredArticle(id=i, draft=d, content_hash=h, word_count=word_count(d.text),
                              embedding=e, dedup=dec, tags=self.tagger.tag(d.title, d.text, e))
                for i, d, e, h, dec in zip(ids, drafts, embeddings, hashes, decisions)]

    def rebuild_dedup(self, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute duplicates and stories of every stored article, in id order, with the
        current thresholds; one transaction. Returns how many decisions changed."""
        index = DedupIndex(self.settings.dedup, text_loader=self._load_texts)
        with self.warehouse.connect(read_only=True) as db:
            rows = list(article_store.dedup_rows(db))
        changed: list[tuple[int, DedupDecision]] = []
        stats = {"articles": len(rows), "changed": 0, "duplicates": 0, "stories": 0}
        for start in range(0, len(rows), 100):
            block = rows[start:start + 100]
            decisions = index.decide([doc for doc, _ in block])
            for (doc, old), new in zip(block, decisions):
                if (old.duplicate_of, old.story_id, old.kind) != (new.duplicate_of, new.story_id,
                                                                  new.kind):
                    changed.append((doc.id, new))
                stats["duplicates"] += new.duplicate_of is not None
                stats["stories"] += new.duplicate_of is None and new.story_id == doc.id
            if progress is not None:
                progress(min(start + 100, len(rows)), len(rows))
        with self.warehouse.transaction() as db:
            dedup_store.update_decisions(db, changed)
        stats["changed"] = len(changed)
        self.reset()
        return stats

    def retag(self, progress: Callable[[int, int], None] | None = None
              ) -> dict[str, dict[str, int]]:
        """Re-score every stored article against the current topics file (no fetching, no
        re-embedding); one transaction. Returns tags added and removed per topic."""
        self._tagger = None
        with self.warehouse.connect(read_only=True) as db:
            self.refresh(db)
            before = topics_store.current_tags(db)
            articles = list(topics_store.stored_embeddings(db))
        results = {}
        for n, (aid, title, text, emb) in enumerate(articles, 1):
            results[aid] = self.tagger.tag(title, text, emb)
            if progress is not None and (n % 25 == 0 or n == len(articles)):
                progress(n, len(articles))
        with self.warehouse.transaction() as db:
            topics_store.replace_all_tags(db, results)
        changes: dict[str, dict[str, int]] = {}
        for aid, result in results.items():
            new = {t.topic for t in result.topics}
            old = before.get(aid, set())
            for topic in new - old:
                changes.setdefault(topic, {"added": 0, "removed": 0})["added"] += 1
            for topic in old - new:
                changes.setdefault(topic, {"added": 0, "removed": 0})["removed"] += 1
        return changes

    def sync_feeds(self) -> feed_store.SyncResult:
        """Bring the warehouse's feeds table in line with the feeds file."""
        configs = load_feeds(self.settings.feeds.file)
        with self.warehouse.transaction() as db:
            return feed_store.sync_feeds(db, configs)

    # -- seed corpus ---------------------------------------------------------------------------

    def sync_seeds(self) -> SeedSyncResult:
        """Load new or edited seed files as `source='seed'` articles; unchanged ones cost nothing."""
        docs = load_seeds(self.settings.seeds.dir)
        with self.warehouse.connect(read_only=True) as db:
            stored = article_store.seed_states(db)
        todo: list[tuple[SeedDoc, int | None]] = []
        unchanged = []
        for doc in docs:
            state = stored.get(doc.url)
            if state is not None and state[1] == doc.file_hash:
                unchanged.append(doc.file_name)
            else:
                todo.append((doc, state[0] if state else None))
        missing = tuple(sorted(url.removeprefix("seed:") for url in
                               set(stored) - {d.url for d in docs}))
        if not todo:
            return SeedSyncResult(unchanged=tuple(unchanged), missing=missing)

        now = datetime.now(timezone.utc)
        with self.warehouse.transaction() as db:
            replaced = [old for _, old in todo if old is not None]
            article_store.delete_articles(db, replaced)
            self.reset()
            self.refresh(db)
            next_id = max(article_store.max_article_id(db), self.index.max_id) + 1
            drafts, ids = [], []
            for doc, old_id in todo:
                drafts.append(ArticleDraft(source="seed", url=doc.url, canonical_url=doc.url,
                                           title=doc.title, text=doc.text, text_source="file",
                                           text_source_reason="seed file", fetched_at=now,
                                           seed_file_hash=doc.file_hash, lang="en"))
                if old_id is None:
                    ids.append(next_id)
                    next_id += 1
                else:
                    ids.append(old_id)
            embeddings = self.embedder.embed([d.text for d in drafts])
            # Seeds are tagged against each other, so their vectors must be known first.
            _, seed_vectors = article_store.article_vectors(db, source="seed")
            _, seed_chunks = article_store.chunk_vectors(db, source="seed")
            new_vectors = np.stack([e.vector for e in embeddings])
            new_chunks = np.stack([c.vector for e in embeddings for c in e.chunks])
            self._tagger = build_tagger(
                self.settings, self.embedder,
                np.vstack([m for m in (seed_vectors, new_vectors) if m.size]),
                np.vstack([m for m in (seed_chunks, new_chunks) if m.size]))
            stored_articles = self._decide_all(ids, drafts, embeddings)
            article_store.insert_articles(db, stored_articles)
        self.reset()
        updated = tuple(doc.file_name for doc, old in todo if old is not None)
        added = tuple(doc.file_name for doc, old in todo if old is None)
        return SeedSyncResult(added=added, updated=updated, unchanged=tuple(unchanged),
                              missing=missing)


# -- one ingest cycle ----------------------------------------------------------------------------


class Reporter:
    """Progress of a cycle: the CLI shows bars on a terminal; this base class stays silent."""

    def start(self, stage: str, total: int | None = None) -> None:
        """A stage begins with `total` items (None: unknown)."""

    def grow(self, stage: str, n: int = 1) -> None:
        """A stage gets `n` more items to do."""

    def advance(self, stage: str, n: int = 1) -> None:
        """`n` items of a stage are done."""


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
    per_topic: dict[str, int] = field(default_factory=dict)
    feed_errors: tuple[str, ...] = ()
    stage_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False

    def counts(self) -> dict[str, object]:
        """Counts for the `runs` table and the log line."""
        return {"feeds_polled": self.feeds_polled, "feeds_failed": self.feeds_failed,
                "feeds_not_modified": self.feeds_not_modified, "entries_seen": self.entries_seen,
                "new_entries": self.new_entries, "known_urls": self.known_urls,
                "articles_new": self.articles_new, "from_page": self.from_page,
                "from_feed": self.from_feed, "duplicates": self.duplicates,
                "deferred": self.deferred, "write_failures": self.write_failures,
                "per_topic": dict(self.per_topic), "interrupted": self.interrupted}


def run_cycle(pipe: Pipeline, *, feeds: Sequence[str] | None = None,
              reporter: Reporter | None = None, cancel: threading.Event | None = None,
              now: datetime | None = None) -> CycleSummary:
    """Poll due feeds (or exactly `feeds`, now) and store their new articles; see module doc."""
    cycle = _Cycle(pipe, reporter or Reporter(), cancel or threading.Event(),
                   now or datetime.now(timezone.utc))
    return asyncio.run(cycle.run(feeds))


@dataclass
class _Item:
    """A new feed entry on its way to becoming an article."""

    feed: Any
    entry: Any
    canonical: str | None
    allow_private: bool


class _Cycle:
    """Mutable state of one cycle; `run` is the stage order."""

    def __init__(self, pipe: Pipeline, reporter: Reporter, cancel: threading.Event,
                 now: datetime) -> None:
        self.pipe = pipe
        self.settings = pipe.settings
        self.reporter = reporter
        self.cancel = cancel
        self.now = now
        self.stats: dict[str, Any] = {k: 0 for k in CycleSummary().counts() if k not in
                                      ("per_topic", "interrupted")}
        self.per_topic: dict[str, int] = {}
        self.feed_errors: list[str] = []
        self.stage_s: dict[str, float] = {}
        self.outcomes: dict[int, Any] = {}
        self.pending: dict[int, int] = {}          # feed id -> items not yet written
        self.pending_lock = threading.Lock()       # the writer thread and the loop both count
        self.new_entries: dict[int, int] = {}      # feed id -> entries not seen before
        self.writes: list[asyncio.Future] = []
        self.incomplete: set[int] = set()          # feeds to re-read in full next cycle
        self.claimed: dict[str, int | None] = {}   # canonical URL -> article id (None: pending)
        self.aliases: list[tuple[int, str, str, datetime]] = []  # (feed, key, canonical, seen)
        self.next_id = 0
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newswatch-writer")
        self.extractor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="newswatch-extract")

    def _time(self, stage: str, seconds: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds

    async def run(self, feed_urls: Sequence[str] | None) -> CycleSummary:

        try:
            configs = load_feeds(self.settings.feeds.file)
            t0 = time.perf_counter()
            try:
                with self.pipe.warehouse.transaction(wait_s=PREPARE_WAIT_S) as db:
                    feed_store.sync_feeds(db, configs)
                    urls = None
                    if feed_urls:
                        urls = [feed_store.adhoc_feed(db, _feed_target(u)).url for u in feed_urls]
                    due = feed_store.due_feeds(db, self.now, urls=urls)
                    self._prepare(db)
            except WarehouseBusyError as exc:
                # A reader holds the file: poll the feeds already known now and keep what is
                # fetched in memory until the file frees; feeds.toml is synced next cycle.
                log.info("warehouse busy (%s): polling known feeds, writing when it frees", exc)
                with self.pipe.warehouse.connect(read_only=True) as db:
                    known = [_feed_target(u) for u in feed_urls] if feed_urls else None
                    due = feed_store.due_feeds(db, self.now, urls=known)
                    self._prepare(db)
            self._time("prepare", time.perf_counter() - t0)
            items = await self._poll(due)
            if not self.cancel.is_set():
                await self._articles(items)
            self._finish_feeds()
        finally:
            self.writer.shutdown(wait=True)
            self.extractor.shutdown(wait=True)
        return CycleSummary(**self.stats, per_topic=dict(sorted(self.per_topic.items())),
                            feed_errors=tuple(self.feed_errors), stage_s=dict(self.stage_s),
                            interrupted=self.cancel.is_set())

    def _prepare(self, db: Db) -> None:
        self.pipe.refresh(db)
        self.next_id = max(article_store.max_article_id(db), self.pipe.index.max_id) + 1

    # -- polling ---------------------------------------------------------------------------------
    async def _poll(self, due: list) -> list[_Item]:

        t0 = time.perf_counter()
        self.reporter.start("feeds", len(due))
        async with Fetcher(self.settings.http) as fetcher:
            async def one(feed):
                try:
                    return await poll_feed(fetcher, feed, self.settings, self.now)
                finally:
                    self.reporter.advance("feeds")
            outcomes = await self._cancellable([one(f) for f in due])
        self._time("poll", time.perf_counter() - t0)
        feeds_by_id = {f.id: f for f in due}
        done_now: list = []
        items: list[_Item] = []
        with self.pipe.warehouse.connect(read_only=True) as db:
            for outcome in outcomes:
                if outcome is None:  # cancelled before it finished
                    continue
                feed = feeds_by_id[outcome.feed_id]
                self.outcomes[feed.id] = outcome
                self.stats["feeds_polled"] += 1
                if outcome.status in ("error", "gone"):
                    self.stats["feeds_failed"] += 1
                    self.feed_errors.append(f"{feed.url}: {outcome.error_kind}: "
                                            f"{outcome.error_message}")
                elif outcome.status in ("not_modified", "unchanged"):
                    self.stats["feeds_not_modified"] += 1
                entries = list(outcome.entries or ())
                self.stats["entries_seen"] += len(entries)
                seen = entry_store.seen_keys(db, feed.id, [e.key for e in entries])
                fresh = [e for e in entries if e.key not in seen]
                self.stats["new_entries"] += len(fresh)
                canon = {e.key: _safe_canonical(canonical_url, e.link) for e in fresh}
                known = article_store.existing_canonical_urls(db, [c for c in canon.values() if c])
                allow_private = (self.settings.http.allow_private_networks
                                 or is_private_host(feed.url))
                for e in fresh:
                    c = canon[e.key]
                    if c and c in known:
                        self.stats["known_urls"] += 1
                        self.aliases.append((feed.id, e.key, c, self.now))
                        self.claimed.setdefault(c, known[c])
                    elif c and c in self.claimed:
                        self.stats["known_urls"] += 1
                        self.aliases.append((feed.id, e.key, c, self.now))
                    else:
                        if c:
                            self.claimed[c] = None
                        items.append(_Item(feed, e, c, allow_private))
                        self.pending[feed.id] = self.pending.get(feed.id, 0) + 1
                self.new_entries[feed.id] = len(fresh)
                if self.pending.get(feed.id, 0) == 0:
                    done_now.append(feed.id)
        self._write_polls(done_now)
        return items

    async def _cancellable(self, coros: list) -> list:
        """Run coroutines concurrently; when the cycle is cancelled, stop them (None results)."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        if not tasks:
            return []

        async def watch():
            while not all(t.done() for t in tasks):
                if self.cancel.is_set():
                    for t in tasks:
                        t.cancel()
                    return
                await asyncio.sleep(0.1)

        watcher = asyncio.ensure_future(watch())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        watcher.cancel()
        out = []
        for r in results:
            if isinstance(r, asyncio.CancelledError):
                out.append(None)
            elif isinstance(r, BaseException):
                raise r
            else:
                out.append(r)
        return out

    # -- pages, processing, writing ------------------------------------------------------------

    async def _articles(self, items: list[_Item]) -> None:

        self.reporter.start("pages", len(items))
        self.reporter.start("articles", 0)
        loop = asyncio.get_running_loop()
        batch: list[tuple[_Item, ArticleDraft]] = []
        writes = self.writes
        fetch_page_enabled = self.settings.ingest.fetch_pages
        t0 = time.perf_counter()
        async with Fetcher(self.settings.http) as fetcher:
            async def one(item: _Item):
                if not fetch_page_enabled:
                    return item, PageResult(item.entry.link, None, "page fetching disabled")
                return item, await fetch_page(fetcher, item.entry.link,
                                              allow_private=item.allow_private,
                                              respect_robots=self.settings.http.respect_robots,
                                              executor=self.extractor)

            tasks = [asyncio.ensure_future(one(i)) for i in items]
            watcher = asyncio.ensure_future(self._watch_cancel(tasks))
            try:
                for next_done in asyncio.as_completed(tasks):
                    try:
                        item, result = await next_done
                    except asyncio.CancelledError:
                        break
                    self.reporter.advance("pages")
                    self._time("extract", result.extract_s)
                    draft = self._draft(item, result)
                    if draft is None:
                        continue
                    batch.append((item, draft))
                    self.reporter.grow("articles")
                    if len(batch) >= self.settings.ingest.batch_size:
                        writes.append(loop.run_in_executor(self.writer, self._store, batch))
                        batch = []
                    if self.cancel.is_set():
                        break
            finally:
                watcher.cancel()
                for t in tasks:
                    t.cancel()
        self._time("pages", time.perf_counter() - t0)
        if batch and not self.cancel.is_set():
            writes.append(loop.run_in_executor(self.writer, self._store, batch))
        for w in writes:
            await w

    async def _watch_cancel(self, tasks: list) -> None:
        while True:
            if self.cancel.is_set():
                for t in tasks:
                    t.cancel()
                return
            await asyncio.sleep(0.1)

    def _draft(self, item: _Item, result) -> ArticleDraft | None:

        entry, feed = item.entry, item.feed
        if result.deferred:
            self.stats["deferred"] += 1
            self.incomplete.add(feed.id)
            self._item_done(feed.id)
            return None
        canon = item.canonical
        if result.page is not None and entry.link:
            try:
                canon = pick_canonical(result.url or entry.link, result.page.canonical_url)
            except Exception:  # an odd canonical link keeps the entry's own URL
                canon = item.canonical
            if canon != item.canonical and canon in self.claimed:
                # The page names an article already stored or being stored under another URL.
                self.stats["known_urls"] += 1
                self.aliases.append((feed.id, entry.key, canon, self.now))
                if item.canonical and self.claimed.get(item.canonical, 0) is None:
                    del self.claimed[item.canonical]
                self._item_done(feed.id)
                return None
            if canon and canon != item.canonical:
                self.claimed[canon] = None
        feed_text = max((entry.content or "", entry.summary or ""), key=len)
        composed = compose_article(feed_title=entry.title, feed_text=feed_text,
                                   feed_author=entry.author, feed_published=entry.published_at,
                                   fetched_at=self.now, page=result.page,
                                   page_problem=result.problem)
        text, reason = composed.text, composed.reason
        title = composed.title or (text.split("\n", 1)[0][:120] if text else "") or "(untitled)"
        if not text.strip():
            text, reason = title, f"{reason}; no text anywhere: title only"
        url = result.url or entry.link or f"{feed.url}#entry={entry.key}"
        return ArticleDraft(source="feed", feed_id=feed.id, url=url, canonical_url=canon,
                            guid=entry.guid, entry_key=entry.key, title=title,
                            author=composed.author, published_at=composed.published_at,
                            lang=composed.lang, site_name=composed.site_name,
                            description=composed.description, text=text,
                            text_source=composed.text_source, text_source_reason=reason,
                            fetched_at=self.now)

    def _items_done(self, feed_ids: Sequence[int]) -> list[int]:
        """Count items as settled; return the feeds that have none left."""
        finished = []
        with self.pending_lock:
            for fid in feed_ids:
                self.pending[fid] -= 1
                if self.pending[fid] == 0:
                    finished.append(fid)
        return finished

    def _item_done(self, feed_id: int) -> None:
        """An item settled without an article; its feed's poll is recorded once all are."""
        finished = self._items_done([feed_id])
        if finished:
            loop = asyncio.get_running_loop()
            self.writes.append(loop.run_in_executor(self.writer, self._write_polls, finished))

    def _store(self, batch: list[tuple[_Item, ArticleDraft]]) -> None:
        """Process a batch and write it in one transaction (runs on the writer thread)."""
        if self.cancel.is_set():
            return
        drafts = [d for _, d in batch]
        first = self.next_id
        self.next_id += len(drafts)
        stored = self.pipe.process(drafts, first, timings=self.stage_s)
        finished = self._items_done([item.feed.id for item, _ in batch])
        entry_rows = [(item.feed.id, item.entry.key, a.draft.canonical_url, a.id, self.now)
                      for (item, _), a in zip(batch, stored)]
        ok = self._write(stored, entry_rows, finished)
        if not ok:
            self.pipe.forget([a.id for a in stored])
            self.stats["write_failures"] += len(stored)
            for item, _ in batch:
                self.incomplete.add(item.feed.id)
            for fid in finished:
                self._write_polls([fid])
            return
        for a in stored:
            if a.draft.canonical_url:
                self.claimed[a.draft.canonical_url] = a.id
            self.stats["articles_new"] += 1
            self.stats["from_page" if a.draft.text_source == "page" else "from_feed"] += 1
            if a.dedup.duplicate_of is not None:
                self.stats["duplicates"] += 1
            else:
                for t in a.tags.topics:
                    self.per_topic[t.topic] = self.per_topic.get(t.topic, 0) + 1
        self.reporter.advance("articles", len(stored))

    def _write(self, stored: list[StoredArticle], entry_rows: list, finished: list[int]) -> bool:
        """One transaction for a batch: articles, their entries, and the polls it completes."""

        t0 = time.perf_counter()
        delay = 1.0
        for attempt in range(1, 4):
            try:
                with self.pipe.warehouse.transaction() as db:
                    article_store.insert_articles(db, stored)
                    entry_store.record_entries(db, entry_rows)
                    for fid in finished:
                        feed_store.apply_poll(db, self._final_outcome(fid),
                                              self.new_entries.get(fid, 0))
                self._time("write", time.perf_counter() - t0)
                return True
            except WarehouseBusyError as exc:
                log.warning("batch of %d articles not written: %s; the entries will be fetched "
                            "again next cycle", len(stored), exc)
                break
            except Exception as exc:  # retried: a batch is never dropped on the first error
                log.warning("writing a batch of %d articles failed (attempt %d of 3): %s",
                            len(stored), attempt, exc)
                if self.cancel.is_set():
                    break
                time.sleep(delay)
                delay *= 2
        self._time("write", time.perf_counter() - t0)
        return False

    def _final_outcome(self, feed_id: int):
        """The poll outcome to record; a feed with unfinished entries is re-read next time."""
        outcome = self.outcomes[feed_id]
        if feed_id in self.incomplete:
            outcome = dataclasses.replace(outcome, etag=None, last_modified=None, body_hash=None)
        return outcome

    def _write_polls(self, feed_ids: list[int]) -> None:

        aliases = self._resolved_aliases()
        if not feed_ids and not aliases:
            return
        try:
            with self.pipe.warehouse.transaction() as db:
                entry_store.record_entries(db, aliases)
                for fid in feed_ids:
                    feed_store.apply_poll(db, self._final_outcome(fid),
                                          self.new_entries.get(fid, 0))
        except Exception as exc:  # the next cycle polls these feeds again; nothing is lost
            log.warning("could not record %d feed polls: %s", len(feed_ids), exc)

    def _resolved_aliases(self) -> list[tuple]:
        """Entries that point at an article already stored, ready to record."""
        ready, waiting = [], []
        for feed_id, key, canon, seen in self.aliases:
            article_id = self.claimed.get(canon)
            if article_id is None:
                waiting.append((feed_id, key, canon, seen))
            else:
                ready.append((feed_id, key, canon, article_id, seen))
        self.aliases = waiting
        return ready

    def _finish_feeds(self) -> None:
        """Record polls of feeds whose entries did not all get written (read again next time)."""
        left = [fid for fid, n in self.pending.items() if n > 0]
        for fid in left:
            self.incomplete.add(fid)
        self._write_polls(left)


def _safe_canonical(canonicalize: Callable[[str], str], link: str | None) -> str | None:
    if not link:
        return None
    try:
        return canonicalize(link)
    except Exception:  # a malformed link is stored as it is
        return link


def _feed_target(value: str) -> str:
    """A --feed argument as stored: URLs as given, local paths made absolute."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value
