"""Polling one feed: conditional GET, parse only what changed, classify failures, back off.

`poll_feed` writes nothing: it returns the outcome, and the orchestrator stores the feed's new
state only once the feed's new entries are stored (a new ETag recorded before its entries would
hide them behind a 304 forever).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.config.settings import FeedsSettings
from pipeline.errors import FeedParseError, FetchError
from pipeline.feeds import schedule
from pipeline.feeds.parse import parse_feed
from pipeline.models import FeedEntry, FeedState, PollOutcome
from pipeline.net.http import Fetcher
from pipeline.net.responses import FetchResult


async def poll_feed(
    fetcher: Fetcher,
    feed: FeedState,
    settings: FeedsSettings,
    now: datetime,
    rng: random.Random | None = None,
) -> PollOutcome:
    """Poll a feed once; never raises for a problem of the feed."""
    poll = _Poll(feed, settings, now, rng, feed.interval_s or settings.default_interval_s)
    try:
        result = await fetcher.fetch(
            feed.url,
            purpose="feed",
            etag=feed.etag,
            last_modified=feed.last_modified,
            user_configured=True,
        )
    except FetchError as exc:
        return poll.failed(exc.kind, str(exc), exc.status, exc.retry_after_s)
    except Exception as exc:  # an unexpected client failure is still just this feed's error
        return poll.failed("protocol", f"{type(exc).__name__}: {exc}")

    if result.status == 304:
        return poll.succeeded(
            result, "not_modified", feed.etag, feed.last_modified, feed.body_hash, feed.title
        )
    etag = result.headers.get("etag")
    last_modified = result.headers.get("last-modified")
    digest = hashlib.sha256(result.body).hexdigest()
    if digest == feed.body_hash:
        return poll.succeeded(result, "unchanged", etag, last_modified, digest, feed.title)
    try:
        parsed = parse_feed(
            result.body,
            url=result.final_url,
            headers=result.headers,
            fetched_at=now,
            max_entries=settings.max_entries_per_poll,
        )
    except FeedParseError as exc:
        return poll.failed("parse", str(exc), result.status, size=len(result.body))
    return poll.succeeded(
        result,
        "ok",
        etag,
        last_modified,
        digest,
        title=feed.title or parsed.title,
        entries=parsed.entries,
        bozo_reason=parsed.bozo_reason,
    )


@dataclass
class _Poll:
    """One poll of a feed under way: what its outcome is made of, whichever it is."""

    feed: FeedState
    settings: FeedsSettings
    now: datetime
    rng: random.Random | None
    interval: int
    started: float = field(default_factory=time.perf_counter)

    def failed(
        self,
        kind: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        size: int = 0,
    ) -> PollOutcome:
        """The outcome of a failed poll: backed off, or the feed disabled when it is gone."""
        feed, s, now = self.feed, self.settings, self.now
        count = feed.error_count + 1
        gone = kind == "gone"
        return PollOutcome(
            feed_id=feed.id,
            polled_at=now,
            status="gone" if gone else "error",
            url=feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            body_hash=feed.body_hash,
            error_count=count,
            next_poll_at=schedule.after_failure(
                now,
                count,
                interval_s=self.interval,
                base_s=s.backoff_base_s,
                cap_s=s.backoff_cap_s,
                retry_after_s=retry_after,
                retry_after_cap_s=s.retry_after_cap_s,
                rng=self.rng,
            ),
            http_status=status,
            bytes=size,
            error_kind=kind,
            error_message=message[:500],
            duration_ms=self._elapsed_ms(),
            enabled=not gone,
            disabled_reason=f"{message} (at {now:%Y-%m-%d %H:%M} UTC)" if gone else None,
            title=feed.title,
        )

    def succeeded(
        self,
        result: FetchResult,
        status: str,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        title: str | None,
        entries: tuple[FeedEntry, ...] = (),
        bozo_reason: str | None = None,
    ) -> PollOutcome:
        """The outcome of a poll that got an answer."""
        return PollOutcome(
            feed_id=self.feed.id,
            polled_at=self.now,
            status=status,
            url=result.permanent_redirect or self.feed.url,
            etag=etag,
            last_modified=last_modified,
            body_hash=body_hash,
            error_count=0,
            next_poll_at=schedule.after_success(self.now, self.interval),
            http_status=result.status,
            bytes=len(result.body),
            entries=entries,
            duration_ms=self._elapsed_ms(),
            title=title,
            bozo_reason=bozo_reason,
        )

    def _elapsed_ms(self) -> int:
        """Milliseconds since the poll started."""
        return int((time.perf_counter() - self.started) * 1000)
