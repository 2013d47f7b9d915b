"""Settings of what newswatch collects and where it keeps it: the warehouse, feeds, seeds, HTTP,
the ingest cycle and archive backfill."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.sections.options import opt


@dataclass(frozen=True)
class WarehouseSettings:
    path: Path = opt("../warehouse/newswatch.duckdb", "DuckDB file of the warehouse", path=True)
    busy_timeout_s: float = opt(
        600.0, "how long a writer waits for readers to release the file", lo=0, hi=86400
    )


@dataclass(frozen=True)
class FeedsSettings:
    file: Path = opt("feeds.toml", "feeds list ([[feeds]] tables)", path=True)
    allow_missing: bool = opt(False, "a missing feeds file means no feeds (else it is an error)")
    default_interval_s: int = opt(
        1800, "poll interval of a feed without its own interval_s", lo=1, hi=7 * 86400
    )
    max_entries_per_poll: int = opt(200, "newest entries considered per poll", lo=1, hi=10000)
    backoff_base_s: int = opt(300, "first retry delay after a failed poll", lo=1, hi=86400)
    backoff_cap_s: int = opt(86400, "longest retry delay after repeated failures", lo=60, hi=86400)
    retry_after_cap_s: int = opt(21600, "longest Retry-After honoured", lo=1, hi=86400)


@dataclass(frozen=True)
class SeedsSettings:
    dir: Path = opt("seeds", "folder of seed documents (*.txt)", path=True)


@dataclass(frozen=True)
class HttpSettings:
    user_agent: str = opt(
        "newswatch/0.1 (+https://example.org/newswatch; ops@example.org)",
        "User-Agent sent with every request; put a contact in it",
    )
    connect_timeout_s: float = opt(10.0, "TCP/TLS connect timeout", lo=0.1, hi=300)
    read_timeout_s: float = opt(30.0, "longest wait for the next bytes", lo=0.1, hi=600)
    total_timeout_s: float = opt(60.0, "longest time for one whole response", lo=0.1, hi=3600)
    max_body_bytes: int = opt(
        15_000_000, "largest (decompressed) body accepted", lo=1024, hi=1_000_000_000
    )
    max_redirects: int = opt(5, "redirects followed per request", lo=0, hi=5)
    concurrency: int = opt(16, "requests in flight overall", lo=1, hi=256)
    per_host_concurrency: int = opt(2, "requests in flight per host", lo=1, hi=2)
    per_host_delay_s: float = opt(1.0, "minimum delay between requests to one host", lo=0, hi=600)
    allow_private_networks: bool = opt(False, "fetch entry links on private/loopback addresses")
    respect_robots: bool = opt(True, "obey robots.txt for article pages")
    robots_cache_s: int = opt(86400, "how long a host's robots.txt is cached", lo=0, hi=30 * 86400)


@dataclass(frozen=True)
class IngestSettings:
    batch_size: int = opt(32, "articles embedded and written per transaction", lo=1, hi=10000)
    fetch_pages: bool = opt(True, "fetch article pages (false: store feed text only)")
    extract_workers: int = opt(
        1,
        "processes extracting article text while the model embeds "
        "(0 = threads inside the ingest process)",
        lo=0,
        hi=64,
    )


@dataclass(frozen=True)
class BackfillSettings:
    batch_size: int = opt(
        64,
        "archive articles deduplicated, tagged and written per "
        "transaction (the writer lock is held for one batch)",
        lo=1,
        hi=10000,
    )
    prefilter: str = opt(
        "keywords",
        "which archive pages are embedded and stored: 'keywords' "
        "(a topic keyword or a watchlist alias in title or text) "
        "or 'none' (every extracted page)",
        choices=("keywords", "none"),
    )
    files_per_worker: int = opt(
        2,
        "archive files in flight per Dask worker (more keeps workers busy, costs client memory)",
        lo=1,
        hi=64,
    )
