"""The feed records: a feed as configured and as stored, its parsed entries, a poll's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FeedConfig:
    """One configured feed."""

    url: str
    title: str | None = None
    interval_s: int | None = None
    tags: tuple[str, ...] = ()
    allow_private: bool = False  # its entries' links may point at private addresses


@dataclass(frozen=True)
class FeedState:
    """A feed as stored in the `feeds` table."""

    id: int
    url: str
    config_url: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error_count: int = 0
    interval_s: int | None = None
    enabled: bool = True
    in_config: bool = True
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    allow_private: bool = False  # its entries' links may be private addresses (feeds.toml)


@dataclass(frozen=True)
class FeedEntry:
    """One feed item as plain data."""

    key: str  # stable: GUID, else canonical link, else hash of title + summary
    guid: str | None
    link: str | None  # absolute http(s) URL, or None
    title: str
    summary: str  # plain text
    content: str  # plain text of content:encoded / atom content ('' if none)
    author: str | None
    published_at: datetime  # UTC; the fetch time when missing or in the future
    tags: tuple[str, ...] = ()
    date_from_feed: bool = True


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: its title, link and entries (newest first)."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    bozo: bool = False
    bozo_reason: str | None = None


@dataclass(frozen=True)
class PollOutcome:
    """What one poll found, and the feed's state after it."""

    feed_id: int
    polled_at: datetime
    status: str  # ok | not_modified | unchanged | error | gone
    url: str  # after a permanent redirect
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    error_count: int
    next_poll_at: datetime
    http_status: int | None = None
    bytes: int = 0
    entries: tuple[FeedEntry, ...] = ()
    error_kind: str | None = None
    error_message: str | None = None
    duration_ms: int = 0
    enabled: bool = True
    disabled_reason: str | None = None
    title: str | None = None
    bozo_reason: str | None = None
