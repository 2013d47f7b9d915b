"""Parsing the tables of an alerts file: one channel, and one rule's condition with the names it
uses checked against what exists (watchlist, topics, saved searches)."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipeline.alerts.rules import CHANNEL_TYPES, WEBHOOK_FORMATS, Channel, Condition
from pipeline.config.settings import ENV_ALERT_SECRET_PREFIX, ENV_PREFIX
from pipeline.errors import ConfigError
from pipeline.tag.watchlist import Watchlist

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CHANNEL_KEYS = {
    "webhook": {"name", "type", "format", "url_env", "headers_env", "allow_private"},
    "email": {"name", "type", "to"},
    "log": {"name", "type"},
}
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


def parse_channel(item: dict[str, Any], where: str) -> Channel:
    """One [[channels]] table as a Channel, checked (secrets are named, never written)."""
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not NAME_RE.match(name):
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
    """The name of an environment variable holding an alert secret, checked."""
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
    """A number from lo to hi, as a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{where}: must be a number from {lo:g} to {hi:g}")
    return float(value)


class ConditionChecker:
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
        """One condition table (and the conditions inside all/any) as a Condition."""
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
