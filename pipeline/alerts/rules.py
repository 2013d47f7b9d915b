"""The alert records: channels (where alerts go), conditions and rules, and a file's
configuration of them (read by pipeline/alerts/config.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

CHANNEL_TYPES = ("webhook", "email", "log")
WEBHOOK_FORMATS = ("json", "slack", "ntfy")


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
