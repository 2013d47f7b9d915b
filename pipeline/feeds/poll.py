"""Polling one feed: conditional GET, parse only what changed, classify failures, back off.

`poll_feed` writes nothing: it returns the outcome, and the orchestrator stores the feed's new
state only once the feed's new entries are stored (a new ETag recorded before its entries would
hide them behind a 304 forever).
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import datetime

from pipeline.config.settings import FeedsSettings
from pipeline.errors import FeedParseError, FetchError
from pipeline.feeds import schedule
from pipeline.feeds.parse import parse_feed
from pipeline.models import FeedEntry, FeedState, PollOutcome
from pipeline.net.http import Fetcher


async def poll_feed(
    fetcher: Fetcher,
    feed: FeedState,
    settings: FeedsSettings,
    now: datetime,
    rng: random.Random | None = None,
) -> PollOutcome:
    """Poll a feed once; never raises for a problem of the feed."""
    s = settings
    interval = feed.interval_s or s.default_interval_s
    started = time.perf_counter()

    def failed(
        kind: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        size: int = 0,
    ) -> PollOutcome:
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
                interval_s=interval,
                base_s=s.backoff_base_s,
                cap_s=s.backoff_cap_s,
                retry_after_s=retry_after,
                retry_after_cap_s=s.retry_after_cap_s,
                rng=rng,
            ),
            http_status=status,
            bytes=size,
            error_kind=kind,
            error_message=message[:500],
            duration_ms=int((time.perf_counter() - started) * 1000),
            enabled=not gone,
            disabled_reason=f"{message} (at {now:%Y-%m-%d %H:%M} UTC)" if gone else None,
            title=feed.title,
        )

    try:
        result = await fetcher.fetch(
            feed.url,
            purpose="feed",
            etag=feed.etag,
            last_modified=feed.last_modified,
            user_configured=True,
        )
    except FetchError as exc:
        return failed(exc.kind, str(exc), exc.status, exc.retry_after_s)
    except Exception as exc:  # an unexpected client failure is still just this feed's error
        return failed("protocol", f"{type(exc).__name__}: {exc}")

    def succeeded(
        status: str,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        title: str | None = feed.title,
        entries: tuple[FeedEntry, ...] = (),
        bozo_reason: str | None = None,
    ) -> PollOutcome:
        return PollOutcome(
            feed_id=feed.id,
            polled_at=now,
            status=status,
            url=result.permanent_redirect or feed.url,
            etag=etag,
            last_modified=last_modified,
            body_hash=body_hash,
            error_count=0,
            next_poll_at=schedule.after_success(now, interval),
            http_status=result.status,
            bytes=len(result.body),
            entries=entries,
            duration_ms=int((time.perf_counter() - started) * 1000),
            title=title,
            bozo_reason=bozo_reason,
        )

    if result.status == 304:
        return succeeded("not_modified", feed.etag, feed.last_modified, feed.body_hash)
    etag = result.headers.get("etag")
    last_modified = result.headers.get("last-modified")
    digest = hashlib.sha256(result.body).hexdigest()
    if digest == feed.body_hash:
        return succeeded("unchanged", etag, last_modified, digest)
    try:
        parsed = parse_feed(
            result.body,
            url=result.final_url,
            headers=result.headers,
            fetched_at=now,
            max_entries=s.max_entries_per_poll,
        )
    except FeedParseError as exc:
        return failed("parse", str(exc), result.status, size=len(result.body))
    return succeeded(
        "ok",
        etag,
        last_modified,
        digest,
        title=feed.title or parsed.title,
        entries=parsed.entries,
        bozo_reason=parsed.bozo_reason,
    )
