"""One ingest cycle, the one place that knows the order of the stages:

    prepare ──► poll each due feed ──► its new entries ──► their pages ──► drafts ──► batches
                (conditional GET,      (not seen, URL      (robots.txt,              (writer:
                 parse)                 not stored)         fetch, extract)           embed, dedup,
                                                                                      tag, commit)

Alerts: the batch transaction also inserts the alerts its articles raise (pending, the outbox);
once it has committed, a thread of their own delivers them while the cycle goes on, and the
cycle starts by delivering what earlier cycles left due (retries, or a crash before delivery):
pipeline/ingest/delivery.py. A feed's poll is recorded once all its entries are settled:
pipeline/ingest/polls.py.

The stages overlap: a feed's entries go to page fetching as soon as that feed is parsed, so one
slow feed delays only its own pages, and a batch is written while later pages are fetched. The
model, index and tagger are made ready before the warehouse is opened for writing (prepare),
and the file is opened for writing only for short transactions, so analysts' readers are never
shut out for long. While a reader holds the file the cycle still polls the known feeds and
fetches their pages, and writes when the file frees.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config.settings import Settings
from pipeline.errors import WarehouseBusyError
from pipeline.extract.pages import PageResult, fetch_page
from pipeline.feeds.config import load_feeds
from pipeline.feeds.poll import poll_feed
from pipeline.ingest import alerting, draft
from pipeline.ingest.delivery import AlertCourier
from pipeline.ingest.ledger import CycleSummary, Item, Ledger
from pipeline.ingest.polls import PollRecorder
from pipeline.ingest.services import Services
from pipeline.ingest.writer import BatchNotWrittenError, Writer
from pipeline.models import ArticleDraft, FeedEntry, FeedState, PollOutcome, StoredArticle
from pipeline.net.http import Fetcher
from pipeline.store import articles as article_store
from pipeline.store import entries as entry_store
from pipeline.store import feeds as feed_store
from pipeline.store.db import Db, Warehouse

log = logging.getLogger(__name__)

#: How long a cycle waits to sync the feeds list before polling the known feeds read-only.
PREPARE_WAIT_S = 2.0
#: A stop (SIGTERM, Ctrl-C): fetches in flight are dropped, pages in hand get this long to be
#: extracted...
STOP_PAGES_GRACE_S = 3.0
#: ...and batches of what is in hand are written until this long after the stop; what is left
#: then is fetched again at the next start (its feed is due at once). Within the daemon's own
#: grace for the job in progress (pipeline/app/daemon.py).
STOP_WRITE_GRACE_S = 15.0


class Reporter:
    """Progress of a cycle: the CLI shows bars on a terminal; this base class stays silent."""

    def start(self, stage: str, total: int | None = None) -> None:
        """A stage begins with `total` items (None: unknown)."""

    def grow(self, stage: str, n: int = 1) -> None:
        """A stage gets `n` more items to do."""

    def advance(self, stage: str, n: int = 1) -> None:
        """`n` items of a stage are done."""


def run_cycle(
    services: Services,
    *,
    feeds: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
    now: datetime | None = None,
) -> CycleSummary:
    """Poll due feeds (or exactly `feeds`, now) and store their new articles; see module doc."""
    cycle = _Cycle(
        services,
        reporter or Reporter(),
        cancel or threading.Event(),
        now or datetime.now(UTC),
    )
    return asyncio.run(cycle.run(feeds))


Batch = list[tuple[Item, ArticleDraft]]


class _Cycle:
    """The stages of one cycle; its state lives in the ledger."""

    def __init__(
        self, services: Services, reporter: Reporter, cancel: threading.Event, now: datetime
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.warehouse = services.warehouse
        self.reporter = reporter
        self.cancel = cancel
        self.now = now
        self.ledger = Ledger(now)
        self.stage_s: dict[str, float] = {}
        self.writer = Writer(services, cancel=cancel, timings=self.stage_s)
        # One thread writes (batches, polls) so that batches commit in order; one looks up
        # entries; trafilatura is CPU-bound, so extraction runs in worker processes (kept
        # between cycles) while the writer thread embeds.
        self.write_thread = ThreadPoolExecutor(1, thread_name_prefix="newswatch-writer")
        self.lookup_thread = ThreadPoolExecutor(1, thread_name_prefix="newswatch-lookup")
        self.extractor = services.extractor
        # Webhooks and mail must not hold up writing: alerts are delivered on a thread of their
        # own (all alert rows are still written by the writer thread or before it starts).
        self.alerts = AlertCourier(services, self.ledger, cancel)
        self.writes: list[asyncio.Future] = []
        self.polls = PollRecorder(self.warehouse, self.ledger, self._dispatch_call)
        self.write_until: float | None = None  # after a stop: no batch is begun after this
        self.fetched: set[asyncio.Future] = set()  # page tasks whose page is in hand

    def _time(self, stage: str, seconds: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds

    async def run(self, feed_urls: Sequence[str] | None) -> CycleSummary:
        """Prepare, then poll, fetch pages and store, overlapping; record every poll."""
        try:
            due = self._prepare(feed_urls)
            self.alerts.queue_delivery()  # what earlier cycles left due
            if not self.cancel.is_set():
                async with Fetcher(self.settings.http) as fetcher:
                    await self._poll_and_fetch(fetcher, due)
            self.polls.finish()
        finally:
            # The alert thread last: it ends with the deliveries of the last batch. The
            # extraction workers are kept for the next cycle.
            for pool in (self.write_thread, self.lookup_thread):
                pool.shutdown(wait=True)
            self.alerts.shutdown()
        return self.ledger.summary(self.stage_s, self.cancel.is_set())

    # -- prepare ---------------------------------------------------------------------------

    def _prepare(self, feed_urls: Sequence[str] | None) -> list[FeedState]:
        t0 = time.perf_counter()
        self.services.warm_up()
        # Now the index holds exactly what is stored: the moment to persist it.
        self.services.save_vectors()
        due, synced = _due_feeds(self.warehouse, self.settings, self.writer, feed_urls, self.now)
        if synced:
            self.alerts.resolve_checks()  # saved-search checks a crash left behind
        self._time("prepare", time.perf_counter() - t0)
        return due

    # -- polls and pages, overlapping ----------------------------------------------------------

    async def _poll_and_fetch(self, fetcher: Fetcher, due: list[FeedState]) -> None:
        t0 = time.perf_counter()
        self.reporter.start("feeds", len(due))
        self.reporter.start("pages", 0)
        self.reporter.start("articles", 0)
        results: asyncio.Queue = asyncio.Queue()
        page_tasks: list[asyncio.Future] = []

        async def poll_one(feed: FeedState) -> None:
            try:
                outcome = await poll_feed(fetcher, feed, self.settings.feeds, self.now)
            finally:
                self.reporter.advance("feeds")
            for item in await self._accept(feed, outcome):
                self.reporter.grow("pages")
                page_tasks.append(asyncio.ensure_future(self._page(fetcher, item, results)))

        poll_tasks = [asyncio.ensure_future(poll_one(f)) for f in due]

        async def supervise() -> list[BaseException]:
            failures = await asyncio.gather(*poll_tasks, return_exceptions=True)
            self._time("poll", time.perf_counter() - t0)
            # Every page task exists once the polls are done.
            failures += await asyncio.gather(*page_tasks, return_exceptions=True)
            await results.put(None)
            return [
                f
                for f in failures
                if isinstance(f, BaseException) and not isinstance(f, asyncio.CancelledError)
            ]

        watcher = asyncio.ensure_future(self._watch_cancel(poll_tasks, page_tasks))
        supervisor = asyncio.ensure_future(supervise())
        try:
            await self._consume(results)
            self._time("pages", time.perf_counter() - t0)
            failures = await supervisor
        finally:
            watcher.cancel()
            for task in poll_tasks + page_tasks:
                task.cancel()
        k = 0
        while k < len(self.writes):  # writes may queue more poll records while we wait
            await self.writes[k]
            k += 1
        if failures:
            raise failures[0]

    async def _watch_cancel(
        self, poll_tasks: Sequence[asyncio.Future], page_tasks: Sequence[asyncio.Future]
    ) -> None:
        """On a stop: poll and fetch nothing more, let the pages in hand be extracted (within a
        moment), keep what is fetched (it is stored, see `_store`)."""
        while not self.cancel.is_set():
            await asyncio.sleep(0.1)
        self.write_until = time.monotonic() + STOP_WRITE_GRACE_S
        for task in poll_tasks:
            task.cancel()
        for task in page_tasks:
            if task not in self.fetched:
                task.cancel()
        extracting = [t for t in page_tasks if not t.done()]
        if extracting:
            await asyncio.wait(extracting, timeout=STOP_PAGES_GRACE_S)
        for task in page_tasks:
            task.cancel()

    async def _accept(self, feed: FeedState, outcome: PollOutcome) -> list[Item]:
        """A feed was polled: the ledger takes its new entries; return those to fetch."""
        entries = list(outcome.entries or ())
        fresh: list[FeedEntry] = []
        canon: dict[str, str | None] = {}
        known: dict[str, int] = {}
        if entries:
            fresh, canon, known = await asyncio.get_running_loop().run_in_executor(
                self.lookup_thread, _new_entries, self.warehouse, feed.id, entries
            )
        # The exemption is explicit and per feed (feeds.toml), never inferred from its URL.
        allow_private = self.settings.http.allow_private_networks or feed.allow_private
        items, settled = self.ledger.polled(feed, outcome, fresh, canon, known, allow_private)
        if settled:
            self.polls.record([feed.id])
        return items

    async def _page(self, fetcher: Fetcher, item: Item, results: asyncio.Queue) -> None:
        if not self.settings.ingest.fetch_pages:
            result = PageResult(item.entry.link, None, "page fetching disabled")
        else:
            task = asyncio.current_task()
            result = await fetch_page(
                fetcher,
                item.entry.link,
                allow_private=item.allow_private,
                respect_robots=self.settings.http.respect_robots,
                extractor=self.extractor,
                on_fetched=lambda: self.fetched.add(task) if task is not None else None,
            )
        await results.put((item, result))

    async def _consume(self, results: asyncio.Queue) -> None:
        """Turn fetched pages into drafts and hand full batches to the writer."""
        batch: Batch = []
        while True:
            got = await results.get()
            if got is None:
                break
            item, result = got
            self.reporter.advance("pages")
            self._time("extract", result.extract_s)
            article = self._draft(item, result)
            if article is None:
                continue
            batch.append((item, article))
            self.reporter.grow("articles")
            if len(batch) >= self.settings.ingest.batch_size:
                self._dispatch(batch)
                batch = []
        if batch:
            self._dispatch(batch)

    def _draft(self, item: Item, result: PageResult) -> ArticleDraft | None:
        if result.deferred:
            self.polls.record(self.ledger.deferred(item))
            return None
        canonical = draft.page_canonical(item.entry.link, result, item.canonical)
        go_on, settled = self.ledger.page_named(item, canonical)
        if not go_on:  # the page names an article already stored or being stored
            self.polls.record(settled)
            return None
        return draft.draft_article(item.feed, item.entry, result, canonical, self.now)

    # -- writing (on the writer thread) --------------------------------------------------------

    def _dispatch(self, batch: Batch) -> None:
        loop = asyncio.get_running_loop()
        self.writes.append(loop.run_in_executor(self.write_thread, self._store, batch))

    def _store(self, batch: Batch) -> None:
        """Write a batch with the entries it came from and the polls it completes; after a
        stop, only within the grace period."""
        stopped = self.cancel.is_set() and self.write_until is not None
        if stopped and time.monotonic() > (self.write_until or 0.0):
            return  # its entries stay unsettled: their feeds are due at the next start
        items = [item for item, _ in batch]
        polls = self.ledger.settle(items) + self.polls.take()

        raised: list[int] = []

        def also(db: Db, stored: Sequence[StoredArticle]) -> None:
            entry_store.record_entries(
                db,
                [
                    (item.feed.id, item.entry.key, a.draft.canonical_url, a.id, self.now)
                    for item, a in zip(items, stored, strict=True)
                ],
            )
            self.polls.apply(db, polls)
            # The outbox: alerts commit with the articles that raise them, or not at all.
            raised[:] = alerting.raise_alerts(
                db, self.services, [a.id for a in stored], datetime.now(UTC)
            )

        try:
            stored = self.writer.store([d for _, d in batch], also=also)
        except BatchNotWrittenError as exc:
            log.warning("%s; the entries will be fetched again next cycle", exc)
            self.ledger.not_written(items)
            self.polls.write(polls)
            return
        self.ledger.stored(stored)
        self.reporter.advance("articles", len(stored))
        more = self.alerts.resolve_checks()
        if raised or more:
            self.ledger.count("alerts_raised", len(raised) + more)
            self.alerts.queue_delivery()

    def _dispatch_call(self, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self.writes.append(loop.run_in_executor(self.write_thread, fn))


def _due_feeds(
    warehouse: Warehouse,
    settings: Settings,
    writer: Writer,
    feed_urls: Sequence[str] | None,
    now: datetime,
) -> tuple[list[FeedState], bool]:
    """Sync the feeds list, then the feeds due now (exactly `feed_urls` when given, added as
    ad-hoc feeds if new), with the writer started on what is stored, and True. When a reader
    holds the file: the due feeds among those known, read-only, and False (nothing synced)."""
    configs = load_feeds(settings.feeds.file, missing_ok=settings.feeds.allow_missing)
    try:
        with warehouse.transaction(wait_s=PREPARE_WAIT_S) as db:
            feed_store.sync_feeds(db, configs)
            urls = None
            if feed_urls:
                urls = [feed_store.adhoc_feed(db, _feed_target(u)).url for u in feed_urls]
            due = feed_store.due_feeds(db, now, urls=urls)
            writer.start(db)
    except WarehouseBusyError as exc:
        # A reader holds the file: poll the feeds already known now and keep what is fetched in
        # memory until the file frees; feeds.toml is synced next cycle.
        log.info("warehouse busy (%s): polling known feeds, writing when it frees", exc)
        with warehouse.connect(read_only=True) as db:
            known = [_feed_target(u) for u in feed_urls] if feed_urls else None
            due = feed_store.due_feeds(db, now, urls=known)
            writer.start(db)
        return due, False
    return due, True


def _new_entries(
    warehouse: Warehouse, feed_id: int, entries: list[FeedEntry]
) -> tuple[list[FeedEntry], dict[str, str | None], dict[str, int]]:
    """Entries not seen before, their canonical URLs, and which of those are stored."""
    with warehouse.connect(read_only=True) as db:
        seen = entry_store.seen_keys(db, feed_id, [e.key for e in entries])
        fresh = [e for e in entries if e.key not in seen]
        canon = {e.key: draft.entry_canonical(e.link) for e in fresh}
        known = article_store.existing_canonical_urls(db, [c for c in canon.values() if c])
    return fresh, canon, known


def _feed_target(value: str) -> str:
    """A --feed argument as stored: URLs as given, local paths made absolute."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value
