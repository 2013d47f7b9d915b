"""What a weekly digest holds: its week, its stories and sections, folded from rows (pure).

A week is an ISO week in the configured time zone; the default is the last complete one. An
article belongs to the week it was first stored (fetched_at), not the one it claims to be
published in: the digest promises every article once, and an article published on Sunday night
but fetched on Monday morning would otherwise fall between two digests.

Each story appears once, in the section of its best-scoring topic: other articles of the same
story and copies of any of them are folded under it ("also reported by A, B and 3 more").
Off-topic articles are left out, and so are copies of the seeds or of articles from earlier
weeks (already known news).

Each story carries the watchlist entities its reports name (most mentioned first), and the
digest counts, per entity, the week's reports and stories that name it: every feed article first
stored that week, on-topic or not (a watched name matters wherever it appears), copies of earlier
news left out like everywhere else.

Every figure follows the listing (COUNT_RULE): a story counts once, under the topic whose section
lists it, in the per-topic counts, the subject, the daily chart and the previous week's figures
they are compared with. Its other topics show only in its scores line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pipeline.errors import DigestError
from pipeline.net.urls import room_url, web_url

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
LEAD_CHARS = 320
COUNT_RULE = (
    "Each story is counted once, under its best-scoring topic; its other topics are "
    "shown beside it."
)


@dataclass(frozen=True)
class Week:
    """An ISO week in a time zone, with its bounds as UTC instants."""

    label: str
    start: datetime
    end: datetime
    tz: str

    def days(self) -> list[date]:
        """The seven local dates of the week."""
        local = self.start.astimezone(ZoneInfo(self.tz)).date()
        return [local + timedelta(days=i) for i in range(7)]

    def previous(self) -> Week:
        """The week before."""
        start = self.start.astimezone(ZoneInfo(self.tz)) - timedelta(days=7)
        iso = start.isocalendar()
        return week_of(f"{iso.year}-W{iso.week:02d}", self.tz)


def week_of(label: str, tz: str) -> Week:
    """Parse 'YYYY-Www' into its bounds in a time zone; DigestError when malformed."""
    match = _WEEK_RE.match(label.strip())
    if not match:
        raise DigestError(f"{label!r} is not an ISO week; use YYYY-Www, e.g. 2026-W47")
    year, number = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise DigestError(f"{label!r}: {year} has no week {number}") from None
    zone = ZoneInfo(tz)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    end = start + timedelta(days=7)
    return Week(f"{year}-W{number:02d}", start.astimezone(UTC), end.astimezone(UTC), tz)


class WeekNotEndedError(DigestError):
    """A week that has not ended was to be delivered as its weekly digest."""


def ensure_week_ended(week: Week, now: datetime) -> None:
    """Raise WeekNotEndedError, saying when the week ends, unless it has ended at `now`."""
    if week.end > now:
        ends = week.end.astimezone(ZoneInfo(week.tz))
        raise WeekNotEndedError(
            f"week {week.label} has not ended: it ends {ends:%a %d %b %Y %H:%M} ({week.tz})"
        )


def last_complete_week(now: datetime, tz: str) -> Week:
    """The latest ISO week that has ended at `now` in the time zone."""
    local = now.astimezone(ZoneInfo(tz)) - timedelta(days=7)
    iso = local.isocalendar()
    return week_of(f"{iso.year}-W{iso.week:02d}", tz)


@dataclass(frozen=True)
class Story:
    """One story: its lead article and what was folded under it."""

    title: str
    url: str
    source: str
    published_at: datetime
    lead: str
    topic: str
    scores: dict[str, float]
    also: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()  # watchlist entities its reports name, most mentioned first
    story_id: int | None = None
    page: str = ""  # the story in the reading room ([web] base_url), '' when unset
    mark_page: str = ""  # its lead article's page, where the analyst marks it ('' when unset)

    def also_line(self, shown: int = 2) -> str:
        """ "also reported by A, B and 3 more" (empty when nothing was folded)."""
        if not self.also:
            return ""
        names = list(dict.fromkeys(self.also))
        if len(names) <= shown + 1:
            listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
            return f"also reported by {listed}"
        return f"also reported by {', '.join(names[:shown])} and {len(names) - shown} more"

    def scores_text(self) -> str:
        """ "sanctions 0.90, espionage 0.40": every topic of the story with its score."""
        return ", ".join(f"{topic} {score:.2f}" for topic, score in self.scores.items())


@dataclass(frozen=True)
class Section:
    """A topic's stories, with counts against the previous week (both by COUNT_RULE)."""

    topic: str
    label: str
    stories: tuple[Story, ...]  # the first max_stories of them
    count: int  # stories listed here, hidden ones included
    previous: int
    hidden: int = 0


@dataclass(frozen=True)
class EntityCount:
    """A watchlist entity's week: reports and distinct stories naming it."""

    entity: str
    articles: int
    stories: int


@dataclass(frozen=True)
class DigestModel:
    """Everything a digest shows."""

    week: Week
    sections: tuple[Section, ...]
    daily: dict[str, list[int]]
    failing_feeds: tuple[tuple[str, str], ...]
    generated_at: datetime
    totals: dict[str, int] = field(default_factory=dict)
    watchlist: tuple[EntityCount, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the week has no story at all."""
        return not any(s.stories for s in self.sections)

    def counts(self) -> dict[str, int]:
        """Stories per topic, each story under its best topic only."""
        return {s.topic: s.count for s in self.sections}


def source_name(row: dict[str, Any]) -> str:
    """Who published an article: the site name, else the feed title, else the host."""
    return (
        row.get("site_name")
        or row.get("feed_title")
        or (urlsplit(row.get("url") or "").hostname or "").removeprefix("www.")
        or "unknown"
    )


def lead_of(row: dict[str, Any]) -> str:
    """Two or three lines to introduce an article: its description, else its first sentences."""
    text = " ".join((row.get("description") or "").split())
    if len(text) < 60:
        text = " ".join((row.get("text") or "").split())
    if len(text) <= LEAD_CHARS:
        return text
    cut = text[:LEAD_CHARS]
    sentence_end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if sentence_end > LEAD_CHARS // 2:
        return cut[: sentence_end + 1]
    return cut.rsplit(" ", 1)[0] + "…"


def _local_day(when: datetime, tz: str) -> date:
    return when.astimezone(ZoneInfo(tz)).date()


def build_digest(
    week: Week,
    rows: Sequence[dict[str, Any]],
    previous_counts: dict[str, int],
    failing: Sequence[tuple[str, str]],
    labels: dict[str, str],
    *,
    max_stories: int = 20,
    now: datetime | None = None,
    base_url: str = "",
) -> DigestModel:
    """Fold a week's articles into stories and sections (pure).

    `rows`: the week's feed articles with id, title, url, site_name, feed_title, published_at,
    fetched_at, description, text, duplicate_of, root_source, story_id, on_topic and topics
    ({slug: score}); `previous_counts`: stories per topic the week before, by the same rule
    (the counts() of the previous week's model); `base_url`: the reading room's, for links to
    each story's page ('' for none).
    """
    by_id = {r["id"]: r for r in rows}
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("duplicate_of") is None and r.get("on_topic") and r.get("topics"):
            groups.setdefault(r.get("story_id") or r["id"], []).append(r)
    folded = _folded_sources(rows, by_id)
    story_entities, watchlist = _entities(rows, by_id)
    stories_by_topic: dict[str, list[Story]] = {}
    daily: dict[str, list[int]] = {}
    days = week.days()
    for story_id, members in groups.items():
        story = _story(story_id, members, folded.get(story_id, ()), story_entities, base_url)
        day = _local_day(min(m["fetched_at"] for m in members), week.tz)
        if day in days:
            daily.setdefault(story.topic, [0] * 7)[days.index(day)] += 1
        stories_by_topic.setdefault(story.topic, []).append(story)
    for topic in labels:
        daily.setdefault(topic, [0] * 7)
    totals = {
        "stories": sum(len(v) for v in stories_by_topic.values()),
        "articles": len(rows),
        "folded": sum(len(s.also) for v in stories_by_topic.values() for s in v),
    }
    return DigestModel(
        week=week,
        sections=tuple(_sections(stories_by_topic, previous_counts, labels, max_stories)),
        daily=daily,
        failing_feeds=tuple(failing),
        generated_at=now or datetime.now(UTC),
        totals=totals,
        watchlist=watchlist,
    )


def _folded_sources(
    rows: Sequence[dict[str, Any]], by_id: dict[int, dict[str, Any]]
) -> dict[int, list[str]]:
    """The outlets of the copies of this week's articles, by the story they fold into."""
    folded: dict[int, list[str]] = {}
    for r in rows:
        root = r.get("duplicate_of")
        if root is None:
            continue
        # Copies of seeds or of earlier weeks' articles are known news: never listed.
        if root in by_id:
            story = by_id[root].get("story_id") or root
            folded.setdefault(story, []).append(source_name(r))
    return folded


def _entities(
    rows: Sequence[dict[str, Any]], by_id: dict[int, dict[str, Any]]
) -> tuple[dict[int, dict[str, int]], tuple[EntityCount, ...]]:
    """The watchlist entities each story's reports name (with their mentions), and the week's
    count of reports and stories per entity."""
    # News of the week: originals and copies of this week's originals (not of older news).
    news = [r for r in rows if r.get("duplicate_of") is None or r.get("duplicate_of") in by_id]
    story_of = {
        r["id"]: (r.get("story_id") or r["id"])
        if r.get("duplicate_of") is None
        else (by_id[r["duplicate_of"]].get("story_id") or r["duplicate_of"])
        for r in news
    }
    story_entities: dict[int, dict[str, int]] = {}
    entity_articles: dict[str, int] = {}
    entity_stories: dict[str, set[int]] = {}
    for r in news:
        for name, n in (r.get("entities") or {}).items():
            mentions = story_entities.setdefault(story_of[r["id"]], {})
            mentions[name] = mentions.get(name, 0) + int(n)
            entity_articles[name] = entity_articles.get(name, 0) + 1
            entity_stories.setdefault(name, set()).add(story_of[r["id"]])
    watchlist = tuple(
        sorted(
            (EntityCount(n, entity_articles[n], len(entity_stories[n])) for n in entity_articles),
            key=lambda e: (-e.stories, -e.articles, e.entity),
        )
    )
    return story_entities, watchlist


def _story(
    story_id: int,
    members: list[dict[str, Any]],
    folded: Sequence[str],
    story_entities: dict[int, dict[str, int]],
    base_url: str,
) -> Story:
    """One story from its original articles (the best-scoring leads it), under its best topic."""
    members.sort(key=lambda r: (-max(r["topics"].values()), r["fetched_at"], r["id"]))
    lead = members[0]
    scores: dict[str, float] = {}
    for m in members:
        for topic, score in m["topics"].items():
            scores[topic] = max(scores.get(topic, 0.0), float(score))
    best = max(scores, key=lambda t: (scores[t], t))
    mentions = story_entities.get(story_id, {})
    return Story(
        title=lead.get("title") or "(untitled)",
        url=web_url(lead.get("url")),
        source=source_name(lead),
        published_at=lead.get("published_at") or lead["fetched_at"],
        lead=lead_of(lead),
        topic=best,
        scores=dict(sorted(scores.items())),
        also=tuple(source_name(m) for m in members[1:]) + tuple(folded),
        entities=tuple(sorted(mentions, key=lambda n: (-mentions[n], n))),
        story_id=int(story_id),
        page=room_url(base_url, f"/stories/{story_id}"),
        mark_page=room_url(base_url, f"/articles/{lead['id']}"),
    )


def _sections(
    stories_by_topic: dict[str, list[Story]],
    previous_counts: dict[str, int],
    labels: dict[str, str],
    max_stories: int,
) -> list[Section]:
    """A section per topic (the configured ones first), its stories most reported first."""
    order = list(labels) + sorted((set(stories_by_topic) | set(previous_counts)) - set(labels))
    sections = []
    for topic in order:
        stories = sorted(
            stories_by_topic.get(topic, []), key=lambda s: (-len(s.also), -s.scores[topic], s.title)
        )
        sections.append(
            Section(
                topic=topic,
                label=labels.get(topic, topic.replace("_", " ")),
                stories=tuple(stories[:max_stories]),
                count=len(stories),
                previous=previous_counts.get(topic, 0),
                hidden=max(0, len(stories) - max_stories),
            )
        )
    return sections
