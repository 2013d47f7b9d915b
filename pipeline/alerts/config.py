"""Reading and checking config/alerts.toml: channels, and rules with their conditions.

    [[channels]]                         [[rules]]
    name = "desk-slack"                  name = "spacety"
    type = "webhook"                     channels = ["desk-slack", "log"]
    format = "slack"                     when = { any = [ { entity = "Spacety" },
    url_env = "NEWSWATCH_ALERT_SLACK_URL"                   { entity_tag = "sanctioned" } ] }

Channel types: `webhook` (JSON POST; `format` json, slack or ntfy; the URL and any header values
come from environment variables the file names, never from the file), `email` (through [smtp];
`to` defaults to [digest] recipients) and `log` (one log line; a channel named "log" always
exists). Conditions: `entity`, `entity_tag`, `topic` (with optional `min_score`), `search` (a
saved search's name), `relevance` (a minimum), `story_sources` with `within_hours` (story growth),
and `all` / `any` lists of conditions.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.settings import ENV_ALERT_SECRET_PREFIX, ENV_PREFIX
from pipeline.config.tomlfile import numbered_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.tag.topics import load_topics
from pipeline.tag.watchlist import Watchlist, load_watchlist

log = logging.getLogger(__name__)

CHANNEL_TYPES = ("webhook", "email", "log")
WEBHOOK_FORMATS = ("json", "slack", "ntfy")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CHANNEL_KEYS = {
    "webhook": {"name", "type", "format", "url_env", "headers_env", "allow_private"},
    "email": {"name", "type", "to"},
    "log": {"name", "type"},
}
_RULE_KEYS = {"name", "when", "channels", "enabled", "note"}
#: Each condition table has one of these keys, plus the options listed beside it.
_CONDITIONS = {
    "entity": set(),
    "entity_tag": set(),
    "topic": {"min_score"},
    "search": set(),
    "relevance": set(),
    "story_sources": {"within_hours"},
    "all": set(),
    "any": set(),
}


@dataclass(frozen=True)
class Channel:
    """Where alerts go."""

    name: str
    type: str  # webhook | email | log
    format: str = "json"  # webhooks: json | slack | ntfy
    url_env: str = ""  # webhooks: the variable holding the URL
    headers_env: tuple[tuple[str, str], ...] = ()  # webhooks: (header, variable holding its value)
    allow_private: bool = False  # webhooks: may be on a private address (a LAN relay)
    to: tuple[str, ...] = ()  # e-mail: recipients ([digest] recipients if empty)

    def missing_env(self, env: Any = None) -> list[str]:
        """The environment variables this channel needs that are not set."""
        env = os.environ if env is None else env
        names = [self.url_env] + [v for _, v in self.headers_env] if self.type == "webhook" else []
        return [n for n in names if n and not env.get(n)]


@dataclass(frozen=True)
class Condition:
    """One node of a rule's condition: a test on the article, or all/any of sub-conditions."""

    kind: str  # entity | entity_tag | topic | search | relevance | story_sources
    # | all | any
    value: Any = None  # entity name, tag, topic slug, search name, minimum relevance,
    # or the number of sources
    min_score: float = 0.0  # topic
    within_hours: float = 24.0  # story_sources
    parts: tuple[Condition, ...] = ()

    def searches(self) -> set[str]:
        """The saved searches this condition asks."""
        if self.kind == "search":
            return {self.value}
        return set().union(*(p.searches() for p in self.parts)) if self.parts else set()

    def describe(self) -> str:
        """The condition in a few words (for `alerts list`)."""
        if self.kind in ("all", "any"):
            joiner = " and " if self.kind == "all" else " or "
            return "(" + joiner.join(p.describe() for p in self.parts) + ")"
        if self.kind == "topic":
            return f"topic {self.value}" + (f" ≥ {self.min_score:g}" if self.min_score else "")
        if self.kind == "relevance":
            return f"relevance ≥ {self.value:g}"
        if self.kind == "story_sources":
            return f"story reaches {self.value} sources within {self.within_hours:g} h"
        if self.kind == "entity_tag":
            return f"an entity tagged {self.value}"
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Rule:
    """An alert rule: when to alert and through which channels."""

    name: str
    when: Condition
    channels: tuple[str, ...]
    enabled: bool = True
    note: str = ""


@dataclass(frozen=True)
class AlertConfig:
    """The rules and channels of an alerts file, and which rules wait for search."""

    rules: tuple[Rule, ...] = ()
    channels: dict[str, Channel] = field(default_factory=dict)
    source: str = ""
    waiting: frozenset[str] = frozenset()  # rules with a search condition and no search yet

    def rule(self, name: str) -> Rule | None:
        """The rule of this name, or None."""
        return next((r for r in self.rules if r.name == name), None)

    @property
    def active(self) -> tuple[Rule, ...]:
        """The rules that can fire now (enabled, not waiting for search)."""
        return tuple(r for r in self.rules if r.enabled and r.name not in self.waiting)


LOG_CHANNEL = Channel("log", "log")


def alerts_mark(path: Path | None, searches_file: Path | None = None) -> tuple:
    """What tells an edited alerts file (or saved searches file) from the one loaded."""
    out: list = []
    for p in (path, searches_file or searches_path(path)):
        try:
            out.append((str(p), Path(p).stat().st_mtime_ns) if p else None)
        except OSError:
            out.append((str(p), None))
    return tuple(out)


def searches_path(alerts_file: Path | None) -> Path | None:
    """The saved searches file when the caller names none: searches.toml beside the alerts
    file (`[search] file` in the settings is the one the daemon passes)."""
    return Path(alerts_file).with_name("searches.toml") if alerts_file else None


def saved_search_names(path: Path | None) -> set[str] | None:
    """Names in a saved searches file ([[searches]] name = ..., or [searches.NAME] tables);
    None when there is no such file."""
    if path is None or not path.is_file():
        return None
    data = read_toml(path, "saved searches file").get("searches", [])
    if isinstance(data, list):
        return {s["name"] for s in data if isinstance(s, dict) and isinstance(s.get("name"), str)}
    if isinstance(data, dict):
        return set(data)
    raise ConfigError(f"{path}: searches must be [[searches]] tables")


def _channel(item: dict[str, Any], where: str) -> Channel:
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"{where}: name is required: letters, digits, '-', '_' and '.'")
    where = f"{where} ({name})"
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(CHANNEL_TYPES)}")
    if kind == "webhook" and "url" in item:
        raise ConfigError(
            f"{where}: a webhook URL carries its secret (a token or topic): put it "
            f"in an environment variable and name that with url_env"
        )
    unknown = set(item) - _CHANNEL_KEYS[kind]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; a {kind} channel has "
            f"{', '.join(sorted(_CHANNEL_KEYS[kind]))}"
        )
    if kind == "log":
        return Channel(name, "log")
    if kind == "email":
        to = item.get("to", [])
        if not isinstance(to, list) or not all(
            isinstance(a, str) and _EMAIL_RE.match(a) for a in to
        ):
            raise ConfigError(f"{where}: to must be a list of e-mail addresses")
        return Channel(name, "email", to=tuple(to))
    fmt = item.get("format", "json")
    if fmt not in WEBHOOK_FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(WEBHOOK_FORMATS)}")
    url_env = _check_env(item.get("url_env"), f"{where}: url_env")
    headers = item.get("headers_env", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}: headers_env must be a table of header = variable name")
    for header, var in headers.items():
        if not _HEADER_RE.match(header):
            raise ConfigError(f"{where}: headers_env: {header!r} is not a header name")
        _check_env(var, f"{where}: headers_env {header}")
    allow_private = item.get("allow_private", False)
    if not isinstance(allow_private, bool):
        raise ConfigError(f"{where}: allow_private must be true or false")
    return Channel(name, "webhook", fmt, url_env, tuple(sorted(headers.items())), allow_private)


def _check_env(var: Any, where: str) -> str:
    if not isinstance(var, str) or not _ENV_RE.match(var):
        raise ConfigError(
            f"{where}: the name of an environment variable is required, e.g. "
            f"{ENV_ALERT_SECRET_PREFIX}SLACK_URL"
        )
    if var.startswith(ENV_PREFIX) and not var.startswith(ENV_ALERT_SECRET_PREFIX):
        raise ConfigError(
            f"{where}: {var}: NEWSWATCH_<SECTION>_<KEY> variables are settings; "
            f"name alert secrets {ENV_ALERT_SECRET_PREFIX}..."
        )
    return var


def _number(value: Any, where: str, lo: float, hi: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{where}: must be a number from {lo:g} to {hi:g}")
    return float(value)


class _Checker:
    """Parses conditions, checking the names they use against what exists."""

    def __init__(
        self,
        watchlist: Watchlist,
        topics: Collection[str] | None,
        searches: set[str] | None,
        searches_file: Path | None,
    ) -> None:
        self.watchlist = watchlist
        self.topics = topics
        self.searches = searches
        self.searches_file = searches_file

    def parse(self, node: Any, where: str) -> Condition:
        if not isinstance(node, dict):
            raise ConfigError(f'{where}: a condition is a table such as {{ entity = "Spacety" }}')
        heads = [k for k in node if k in _CONDITIONS]
        if len(heads) != 1:
            raise ConfigError(
                f"{where}: a condition has exactly one of "
                f"{', '.join(_CONDITIONS)} (use all/any to combine)"
            )
        head = heads[0]
        unknown = set(node) - {head} - _CONDITIONS[head]
        if unknown:
            raise ConfigError(f"{where}: {sorted(unknown)[0]!r} does not go with {head}")
        value = node[head]
        if head in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: {head} must be a non-empty list of conditions")
            return Condition(
                head,
                parts=tuple(self.parse(v, f"{where}: {head}[{i}]") for i, v in enumerate(value)),
            )
        if head in ("entity", "entity_tag", "topic", "search") and (
            not isinstance(value, str) or not value.strip()
        ):
            raise ConfigError(f"{where}: {head} must be a non-empty string")
        if head == "entity" and self.watchlist.entity(value) is None:
            raise ConfigError(
                f"{where}: entity {value!r} is not in the watchlist "
                f"({self.watchlist.source or 'no watchlist file'})"
            )
        if head == "entity_tag" and not self.watchlist.tagged(value):
            raise ConfigError(f"{where}: no watchlist entity has the tag {value!r}")
        if head == "topic":
            if self.topics is not None and value not in self.topics:
                raise ConfigError(
                    f"{where}: topic {value!r} is not in the topics file; known: "
                    f"{', '.join(sorted(self.topics))}"
                )
            return Condition(
                "topic",
                value,
                min_score=_number(node.get("min_score", 0.0), f"{where}: min_score", 0.0, 1.0),
            )
        if head == "search" and self.searches is not None and value not in self.searches:
            raise ConfigError(f"{where}: no saved search named {value!r} in {self.searches_file}")
        if head == "relevance":
            return Condition("relevance", _number(value, f"{where}: relevance", 0.0, 1.0))
        if head == "story_sources":
            if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 1000:
                raise ConfigError(f"{where}: story_sources must be a whole number from 2 to 1000")
            return Condition(
                "story_sources",
                value,
                within_hours=_number(
                    node.get("within_hours", 24), f"{where}: within_hours", 0.1, 24 * 30
                ),
            )
        return Condition(head, value.strip())


def load_alert_config(
    path: Path | None,
    watchlist: Watchlist,
    *,
    topics: Collection[str] | None = None,
    search_ready: bool = False,
    env: Any = None,
    searches_file: Path | None = None,
) -> AlertConfig:
    """Read and check the alerts file (no file: no rules). Rules that use a saved search while no
    search is wired in are kept but wait (one warning); so are channels whose environment
    variables are unset (one warning each: their deliveries fail until they are set)."""
    if path is None or not Path(path).is_file():
        return AlertConfig(channels={"log": LOG_CHANNEL}, source=str(path or ""))
    data = read_toml(path, "alerts file")
    unknown = set(data) - {"channels", "rules"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key {sorted(unknown)[0]!r}; the file holds "
            f"[[channels]] and [[rules]] tables"
        )
    raw_channels, raw_rules = data.get("channels", []), data.get("rules", [])
    if not isinstance(raw_channels, list) or not isinstance(raw_rules, list):
        raise ConfigError(
            f"{path}: channels and rules must be arrays of tables ([[channels]], [[rules]])"
        )
    channels: dict[str, Channel] = {"log": LOG_CHANNEL}
    for where, item in numbered_tables(path, raw_channels, "channels"):
        channel = _channel(item, where)
        if channel.name in channels and channel.name != "log":
            raise ConfigError(f"{path}: channel {channel.name!r} is defined twice")
        channels[channel.name] = channel
    sfile = searches_file or searches_path(path)
    checker = _Checker(watchlist, topics, saved_search_names(sfile), sfile)
    rules: list[Rule] = []
    for where, item in numbered_tables(path, raw_rules, "rules"):
        name = item.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(f"{where}: name is required: letters, digits, '-', '_' and '.'")
        where = f"{path}: rule {name!r}"
        unknown = set(item) - _RULE_KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: "
                f"{', '.join(sorted(_RULE_KEYS))}"
            )
        if any(r.name == name for r in rules):
            raise ConfigError(f"{where}: defined twice")
        if "when" not in item:
            raise ConfigError(f'{where}: when is required, e.g. when = {{ entity = "Spacety" }}')
        names = item.get("channels")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where}: channels must list at least one channel name")
        for n in names:
            if n not in channels:
                raise ConfigError(
                    f"{where}: no channel named {n!r}; defined: {', '.join(sorted(channels))}"
                )
        enabled, note = item.get("enabled", True), item.get("note", "")
        if not isinstance(enabled, bool) or not isinstance(note, str):
            raise ConfigError(f"{where}: enabled must be true or false and note a string")
        rules.append(
            Rule(
                name,
                checker.parse(item["when"], f"{where}: when"),
                tuple(dict.fromkeys(names)),
                enabled,
                note,
            )
        )
    waiting = frozenset(r.name for r in rules if r.when.searches() and not search_ready)
    warnings = []
    if waiting:
        warnings.append(
            f"{path}: rules {', '.join(sorted(waiting))} use a saved search, which "
            f"is not available yet: they wait and never fire"
        )
    used = {c for r in rules if r.enabled for c in r.channels}
    for name in sorted(used):
        missing = channels[name].missing_env(env)
        if missing:
            warnings.append(
                f"{path}: channel {name} needs {', '.join(missing)} in the "
                f"environment; its alerts fail until it is set"
            )
    _warn_once(str(path), alerts_mark(path, sfile), warnings)
    return AlertConfig(tuple(rules), channels, str(path), waiting)


_WARNED: dict[str, tuple] = {}


def _warn_once(key: str, mark: tuple, warnings: list[str]) -> None:
    """Log a file's warnings once, not at every reload of an unchanged file."""
    if _WARNED.get(key) == (mark, tuple(warnings)):
        return
    _WARNED[key] = (mark, tuple(warnings))
    for line in warnings:
        log.warning("%s", line)


def alert_config_for(settings: Any, *, search_ready: bool = False) -> AlertConfig:
    """The alert rules the settings name, checked against their watchlist and topics files."""
    topics = {t.slug for t in load_topics(settings.topics.file, settings.seeds.dir)}
    return load_alert_config(
        settings.alerts.file,
        load_watchlist(settings.watchlist.file),
        topics=topics,
        search_ready=search_ready,
        searches_file=settings.search.file,
    )
