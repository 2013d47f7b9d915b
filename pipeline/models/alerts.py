"""The alert record: what one alert says, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AlertMessage:
    """What one alert says, whatever the channel: the story, the rule that matched, and why."""

    alert_id: int | None  # None: a test message (`newswatch alerts test`)
    rule: str
    story_id: int | None
    article_id: int | None
    title: str
    url: str
    source: str
    published_at: datetime | None
    reasons: tuple[str, ...] = ()  # what matched, with the evidence (entity context, scores)
    sources: tuple[str, ...] = ()  # outlets that reported the story so far
    created_at: datetime | None = None
    test: bool = False
    story_page: str = ""  # the story in the reading room, when [web] base_url is set
    mark_page: str = ""  # the article's page there, where the analyst marks it
