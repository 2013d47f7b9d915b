"""The cycle's ledger on its own: which entries are fetched, when a feed's poll may be recorded,
and which feeds are read in full next time, also when two threads report at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np

from pipeline.ingest.ledger import Ledger
from pipeline.models import (
    ArticleDraft,
    DedupDecision,
    Embedding,
    FeedEntry,
    FeedState,
    PollOutcome,
    StoredArticle,
    TagResult,
    TopicTag,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def feed(fid: int) -> FeedState:
    return FeedState(id=fid, url=f"http://feed/{fid}", config_url=f"http://feed/{fid}")


def entry(key: str) -> FeedEntry:
    return FeedEntry(
        key=key,
        guid=key,
        link=f"http://site/{key}",
        title=key,
        summary="s",
        content="",
        author=None,
        published_at=NOW,
    )


def outcome(fid: int, entries=(), status="ok") -> PollOutcome:
    return PollOutcome(
        feed_id=fid,
        polled_at=NOW,
        status=status,
        url=f"http://feed/{fid}",
        etag='"new"',
        last_modified=None,
        body_hash="h",
        error_count=0,
        next_poll_at=NOW,
        entries=tuple(entries),
    )


def stored(aid: int, canonical: str, topics=("sanctions",), duplicate_of=None) -> StoredArticle:
    draft = ArticleDraft(
        source="feed",
        url=canonical,
        title="t",
        text="x",
        text_source="page",
        fetched_at=NOW,
        canonical_url=canonical,
    )
    return StoredArticle(
        id=aid,
        draft=draft,
        content_hash="c",
        word_count=1,
        embedding=Embedding("m", np.zeros(2, np.float32), ()),
        dedup=DedupDecision(duplicate_of, None, None, aid),
        tags=TagResult(tuple(TopicTag(t, 0.9) for t in topics), 0.5, True),
    )


def test_new_entries_become_items_and_known_urls_become_aliases():
    ledger = Ledger(NOW)
    es = [entry("a"), entry("b"), entry("c")]
    canon = {e.key: e.link for e in es}
    items, settled = ledger.polled(
        feed(1), outcome(1, es), es, canon, known={"http://site/b": 7}, allow_private=False
    )
    assert [i.entry.key for i in items] == ["a", "c"] and not settled
    assert ledger.ready_aliases() == [(1, "b", "http://site/b", 7, NOW)]
    # Another feed carrying entry "a" while it is still pending: an alias that waits for it.
    items2, settled2 = ledger.polled(
        feed(2),
        outcome(2, [entry("a")]),
        [entry("a")],
        {"a": "http://site/a"},
        {},
        allow_private=False,
    )
    assert items2 == [] and settled2
    assert ledger.ready_aliases() == []
    ledger.stored([stored(10, "http://site/a")])
    assert ledger.ready_aliases() == [(2, "a", "http://site/a", 10, NOW)]
    s = ledger.summary({}, False)
    assert (s.new_entries, s.known_urls, s.articles_new, s.per_topic) == (4, 2, 1, {"sanctions": 1})


def test_a_feed_settles_only_when_every_entry_has():
    ledger = Ledger(NOW)
    es = [entry("a"), entry("b")]
    items, _ = ledger.polled(feed(1), outcome(1, es), es, {e.key: e.link for e in es}, {}, False)
    assert ledger.settle(items[:1]) == []
    assert ledger.settle(items[1:]) == [1]
    recorded, new = ledger.final_outcome(1)
    assert recorded.etag == '"new"' and new == 2


def test_a_deferred_or_unwritten_entry_makes_its_feed_read_in_full_next_time():
    ledger = Ledger(NOW)
    es = [entry("a"), entry("b")]
    items, _ = ledger.polled(feed(1), outcome(1, es), es, {e.key: e.link for e in es}, {}, False)
    assert ledger.deferred(items[0]) == []
    assert ledger.settle(items[1:]) == [1]
    recorded, _ = ledger.final_outcome(1)
    assert recorded.etag is None and recorded.body_hash is None
    other = Ledger(NOW)
    items, _ = other.polled(feed(2), outcome(2, es), es, {e.key: e.link for e in es}, {}, False)
    other.settle(items)
    other.not_written(items)
    assert other.final_outcome(2)[0].etag is None
    assert other.summary({}, False).write_failures == 2


def test_a_page_naming_a_claimed_url_becomes_an_alias_and_frees_its_own():
    ledger = Ledger(NOW)
    es = [entry("a"), entry("b")]
    items, _ = ledger.polled(feed(1), outcome(1, es), es, {e.key: e.link for e in es}, {}, False)
    go_on, settled = ledger.page_named(items[0], "http://site/canonical")
    assert go_on and settled == []
    go_on, settled = ledger.page_named(items[1], "http://site/canonical")
    assert not go_on and settled == []  # "a" is still pending
    assert ledger.settle(items[:1]) == [1]
    # "b"'s own URL is free again: an entry of another feed linking it is fetched.
    more, _ = ledger.polled(
        feed(2), outcome(2, [entry("b")]), [entry("b")], {"b": "http://site/b"}, {}, False
    )
    assert [i.entry.key for i in more] == ["b"]


def test_unsettled_feeds_at_the_end_are_marked_incomplete():
    ledger = Ledger(NOW)
    es = [entry("a")]
    ledger.polled(feed(1), outcome(1, es), es, {"a": "http://site/a"}, {}, False)
    ledger.polled(feed(2), outcome(2), [], {}, {}, False)
    assert ledger.unsettled() == [1]
    assert ledger.final_outcome(1)[0].etag is None and ledger.final_outcome(2)[0].etag == '"new"'


def test_counts_stay_exact_when_two_threads_report_at_once():
    ledger = Ledger(NOW)
    n = 2000
    es = [entry(f"e{i}") for i in range(n)]
    items, _ = ledger.polled(feed(1), outcome(1, es), es, {e.key: e.link for e in es}, {}, False)
    finished: list[int] = []
    barrier = threading.Barrier(2)

    def settle(part):
        barrier.wait()
        for item in part:
            finished.extend(ledger.settle([item]))
            ledger.stored([stored(int(item.entry.key[1:]), item.entry.link)])

    threads = [threading.Thread(target=settle, args=(items[k::2],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert finished == [1]  # exactly once, whichever thread settled the last entry
    assert ledger.summary({}, False).articles_new == n
