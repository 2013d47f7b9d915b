"""Settings of what newswatch gives out and when: alerts, the digest's schedule and mail, the
reading room, the log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.config.sections.options import opt

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


def _check_base_url(value: str) -> str | None:
    if not value or re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        return None
    return "an http(s) URL such as https://newswatch.example.org (or empty)"


@dataclass(frozen=True)
class AlertsSettings:
    file: Path = opt(
        "alerts.toml", "alert rules and channels; a missing file means no alerts", path=True
    )
    attempts_per_cycle: int = opt(
        3, "tries of one delivery within a cycle before it waits for a later cycle", lo=1, hi=10
    )
    retry_delay_s: float = opt(
        1.0, "first wait between tries within a cycle (doubled each time)", lo=0, hi=60
    )
    max_attempts: int = opt(
        12, "tries of one delivery in all before it is marked failed", lo=1, hi=1000
    )
    backoff_base_s: int = opt(
        300,
        "wait before the next cycle's tries after a failed one, doubled per failure",
        lo=1,
        hi=86400,
    )
    backoff_cap_s: int = opt(21600, "longest wait between a delivery's tries", lo=1, hi=7 * 86400)
    webhook_timeout_s: float = opt(15.0, "longest time for one webhook request", lo=0.5, hi=300)


@dataclass(frozen=True)
class ScheduleSettings:
    poll_interval_s: int = opt(900, "how often the daemon polls due feeds", lo=1, hi=86400)
    poll_jitter_s: int = opt(30, "random delay added to each poll", lo=0, hi=3600)
    digest_day: str = opt("mon", "weekday the digest goes out", choices=_DAYS)
    digest_time: str = opt("08:00", "time of day the digest goes out", check=_check_hhmm)
    timezone: str = opt("UTC", "time zone of the digest schedule and of ISO weeks", check=_check_tz)
    digest_retry_s: int = opt(3600, "retry delay after a failed digest send", lo=10, hi=86400)
    maintenance_time: str = opt("03:30", "time of day of the maintenance job", check=_check_hhmm)
    poll_retention_days: int = opt(90, "days of feed_polls kept by maintenance", lo=1, hi=36500)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = opt("", "SMTP server; empty = write digests to the outbox folder")
    port: int = opt(587, "SMTP port", lo=1, hi=65535)
    security: str = opt("starttls", "transport security", choices=("starttls", "ssl", "none"))
    username: str = opt("", "SMTP user; the password comes from NEWSWATCH_SMTP_PASSWORD")
    timeout_s: float = opt(30.0, "SMTP timeout", lo=1, hi=600)
    retries: int = opt(3, "attempts per send", lo=1, hi=20)
    retry_delay_s: float = opt(
        5.0, "first delay between attempts (doubled each time)", lo=0, hi=600
    )
    ca_file: str = opt(
        "",
        "extra CA certificate file to trust (a private mail server); empty: the system's",
        path=True,
    )
    password: str = field(
        default="", repr=False, metadata={"secret": True, "help": "from NEWSWATCH_SMTP_PASSWORD"}
    )


@dataclass(frozen=True)
class DigestSettings:
    sender: str = opt("newswatch@localhost", "From address")
    recipients: list[str] = opt([], "To addresses", check=_check_recipients)
    outbox: Path = opt(
        "../warehouse/outbox", "folder for digests when no SMTP host is set", path=True
    )
    send_empty: bool = opt(True, "send a short digest for a week with nothing new")
    max_stories_per_topic: int = opt(20, "stories listed per topic", lo=1, hi=500)
    subject_prefix: str = opt("[newswatch]", "start of the subject line")


@dataclass(frozen=True)
class LogSettings:
    level: str = opt("info", "log level", choices=("debug", "info", "warning", "error"))
    format: str = opt("text", "log line format", choices=("text", "json"))


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = opt(True, "`newswatch run` also serves the reading room")
    host: str = opt(
        "127.0.0.1", "address the reading room listens on (any but loopback needs a token)"
    )
    port: int = opt(8470, "port of the reading room", lo=1, hi=65535)
    base_url: str = opt(
        "",
        "URL analysts open the reading room at; digests and alerts link to its pages when set",
        check=_check_base_url,
    )
    token_env: str = opt(
        "NEWSWATCH_WEB_TOKEN",
        "environment variable that holds the login token (needed off loopback)",
        check=lambda v: None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else "a variable name",
    )
    busy_wait_s: float = opt(
        10.0, "how long a page waits for a write in progress before it says busy", lo=0, hi=300
    )
    stale_while_writing_s: float = opt(
        30.0,
        "while another process writes, a page read this recently is answered from that reading "
        "(with its time) instead of waiting; 0 always waits",
        lo=0,
        hi=3600,
    )
    since_days: int = opt(7, "days of stories the front page shows by default", lo=1, hi=3650)
    breaking_hours: float = opt(
        6.0, "stories with the most outlets within this many hours rank first", lo=1, hi=720
    )
    max_stories: int = opt(300, "stories a list shows at most", lo=10, hi=10000)
    refresh_s: int = opt(15, "how often an open page looks for new reports", lo=2, hi=3600)
    sql_timeout_s: float = opt(60.0, "longest a query of the SQL page may run", lo=1, hi=3600)
