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
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipeline.alerts.rules import (
    CHANNEL_TYPES,
    LOG_CHANNEL,
    WEBHOOK_FORMATS,
    AlertConfig,
    Channel,
    Condition,
    Rule,
)
from pipeline.alerts.tables import NAME_RE, ConditionChecker, parse_channel
from pipeline.config.tomlfile import numbered_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.tag.topics import load_topics
from pipeline.tag.watchlist import Watchlist, load_watchlist

# The records are reached here too: the alerts file and what it holds are one subject.
__all__ = [
    "CHANNEL_TYPES",
    "LOG_CHANNEL",
    "WEBHOOK_FORMATS",
    "AlertConfig",
    "Channel",
    "Condition",
    "Rule",
    "alert_config_for",
    "alerts_mark",
    "load_alert_config",
    "saved_search_names",
    "searches_path",
]

log = logging.getLogger(__name__)

_RULE_KEYS = {"name", "when", "channels", "enabled", "note"}


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
    raw_channels, raw_rules = _read_tables(path)
    channels = _channels(path, raw_channels)
    sfile = searches_file or searches_path(path)
    checker = ConditionChecker(watchlist, topics, saved_search_names(sfile), sfile)
    rules: list[Rule] = []
    for where, item in numbered_tables(path, raw_rules, "rules"):
        rules.append(_rule(path, where, item, rules, channels, checker))
    waiting = frozenset(r.name for r in rules if r.when.searches() and not search_ready)
    _warn_once(str(path), alerts_mark(path, sfile), _warnings(path, rules, channels, waiting, env))
    return AlertConfig(tuple(rules), channels, str(path), waiting)


def _read_tables(path: Path) -> tuple[list[Any], list[Any]]:
    """The [[channels]] and [[rules]] tables of the alerts file, and nothing else."""
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
    return raw_channels, raw_rules


def _channels(path: Path, raw_channels: list[Any]) -> dict[str, Channel]:
    """The file's channels by name, with the "log" channel that always exists."""
    channels: dict[str, Channel] = {"log": LOG_CHANNEL}
    for where, item in numbered_tables(path, raw_channels, "channels"):
        channel = parse_channel(item, where)
        if channel.name in channels and channel.name != "log":
            raise ConfigError(f"{path}: channel {channel.name!r} is defined twice")
        channels[channel.name] = channel
    return channels


def _rule(
    path: Path,
    where: str,
    item: dict[str, Any],
    rules: list[Rule],
    channels: dict[str, Channel],
    checker: ConditionChecker,
) -> Rule:
    """One [[rules]] table as a Rule, checked against the rules before it and the channels."""
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"{where}: name is required: letters, digits, '-', '_' and '.'")
    where = f"{path}: rule {name!r}"
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_RULE_KEYS))}"
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
    when = checker.parse(item["when"], f"{where}: when")
    return Rule(name, when, tuple(dict.fromkeys(names)), enabled, note)


def _warnings(
    path: Path,
    rules: list[Rule],
    channels: dict[str, Channel],
    waiting: frozenset[str],
    env: Any,
) -> list[str]:
    """What the file's rules cannot do yet: wait for search, or use a channel lacking secrets."""
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
    return warnings


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
