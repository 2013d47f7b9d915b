"""Evaluating alert rules on new articles (pure).

A condition is evaluated on one new article; story growth looks at the article's story. The
answer is three-valued: True, False, or None ("unknown") while a saved search has not been
asked, so that a rule can be settled in the batch's own transaction when its other parts already
decide it (all: one False is enough; any: one True is enough) and only the rest waits for the
search, after the commit.

Story growth ("a story reaching N distinct sources within H hours", the breaking signal): some
window of H hours that contains the new article holds reports from N distinct sources of its
story. Sources are outlets as the digest names them (site name, else feed title, else host);
copies count, since an outlet that runs a wire story is reporting it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.alerts.rules import Condition, Rule
from pipeline.models import EntityMatch

#: A saved search's name and new article ids -> the ids the search matches.
SearchMatcher = Callable[[str, Sequence[int]], set[int]]


@dataclass(frozen=True)
class Report:
    """One report of a story: which article, which outlet, when."""

    article_id: int
    source: str
    when: datetime


@dataclass(frozen=True)
class ArticleFacts:
    """What rules can test of one new article."""

    id: int
    story_id: int
    entities: Mapping[str, EntityMatch] = field(default_factory=dict)
    topics: Mapping[str, float] = field(default_factory=dict)
    relevance: float = 0.0
    story: tuple[Report, ...] = ()  # every stored report of its story, this one included


@dataclass(frozen=True)
class Outcome:
    """A condition's answer (None: unknown until a search is asked) and why."""

    value: bool | None
    reasons: tuple[str, ...] = ()


def story_growth(
    story: Sequence[Report], article_id: int, sources: int, hours: float
) -> tuple[str, ...] | None:
    """The distinct sources of a window of `hours` that holds the article and at least
    `sources` distinct sources of its story, or None if there is no such window."""
    me = next((r for r in story if r.article_id == article_id), None)
    if me is None:
        return None
    span = timedelta(hours=hours)
    # A window that holds the article starts at most `span` before it; the best one starts at
    # one of the reports.
    for start in sorted({r.when for r in story if me.when - span <= r.when <= me.when}):
        inside = [r for r in story if start <= r.when <= start + span]
        names = tuple(dict.fromkeys(r.source for r in sorted(inside, key=lambda r: r.when)))
        if len(names) >= sources:
            return names
    return None


def evaluate(
    cond: Condition,
    facts: ArticleFacts,
    tags: Mapping[str, tuple[str, ...]],
    searched: Mapping[str, bool] | None = None,
) -> Outcome:
    """Evaluate a condition on one article. `tags` maps entity names to their tags; `searched`
    holds the answers of the saved searches asked so far (a missing one is unknown)."""
    kind = cond.kind
    if kind in ("all", "any"):
        parts = [evaluate(p, facts, tags, searched) for p in cond.parts]
        decisive = kind != "all"  # one False decides "all", one True decides "any"
        if any(p.value is decisive for p in parts):
            return Outcome(
                decisive, tuple(r for p in parts if p.value is decisive for r in p.reasons)
            )
        if any(p.value is None for p in parts):
            return Outcome(None)
        return Outcome(not decisive, tuple(r for p in parts for r in p.reasons))
    test = _TESTS.get(kind)
    if test is None:
        raise ValueError(f"unknown condition {kind}")
    return test(cond, facts, tags, searched)


def _entity(
    cond: Condition, facts: ArticleFacts, tags: Mapping[str, tuple[str, ...]], _: Any
) -> Outcome:
    """The article names the entity."""
    match = facts.entities.get(cond.value)
    return Outcome(True, (_named(match),)) if match else Outcome(False)


def _entity_tag(
    cond: Condition, facts: ArticleFacts, tags: Mapping[str, tuple[str, ...]], _: Any
) -> Outcome:
    """The article names an entity with the tag."""
    found = [m for name, m in facts.entities.items() if cond.value in tags.get(name, ())]
    return Outcome(True, tuple(_named(m, cond.value) for m in found)) if found else Outcome(False)


def _topic(cond: Condition, facts: ArticleFacts, tags: Any, _: Any) -> Outcome:
    """The article has the topic, with at least the score asked."""
    score = facts.topics.get(cond.value)
    if score is None or score < cond.min_score:
        return Outcome(False)
    at_least = f" (at least {cond.min_score:.2f})" if cond.min_score else ""
    return Outcome(True, (f"topic {cond.value} {score:.2f}" + at_least,))


def _relevance(cond: Condition, facts: ArticleFacts, tags: Any, _: Any) -> Outcome:
    """The article is at least this relevant to the seeds."""
    if facts.relevance < cond.value:
        return Outcome(False)
    return Outcome(
        True, (f"relevance to the seeds {facts.relevance:.2f} (at least {cond.value:.2f})",)
    )


def _story_sources(cond: Condition, facts: ArticleFacts, tags: Any, _: Any) -> Outcome:
    """The article's story reaches the number of sources within the hours (story growth)."""
    names = story_growth(facts.story, facts.id, cond.value, cond.within_hours)
    if names is None:
        return Outcome(False)
    return Outcome(
        True,
        (
            f"story reported by {len(names)} sources within {cond.within_hours:g} h: "
            f"{', '.join(names)}",
        ),
    )


def _search(
    cond: Condition, facts: ArticleFacts, tags: Any, searched: Mapping[str, bool] | None
) -> Outcome:
    """The saved search matches the article (unknown until it has been asked)."""
    if searched is None or cond.value not in searched:
        return Outcome(None)
    if searched[cond.value]:
        return Outcome(True, (f"saved search {cond.value!r} matches",))
    return Outcome(False)


_Test = Callable[
    [Condition, ArticleFacts, Mapping[str, tuple[str, ...]], Mapping[str, bool] | None], Outcome
]
#: The test of each kind of condition but all/any.
_TESTS: dict[str, _Test] = {
    "entity": _entity,
    "entity_tag": _entity_tag,
    "topic": _topic,
    "relevance": _relevance,
    "story_sources": _story_sources,
    "search": _search,
}


def _named(match: EntityMatch, tag: str | None = None) -> str:
    times = "once" if match.mentions == 1 else f"{match.mentions} times"
    label = f"{match.entity} (tagged {tag})" if tag else match.entity
    return f"{label} named {times}: “{match.evidence}”"


@dataclass(frozen=True)
class Decision:
    """A rule fires for an article's story (value True), or must ask a search (value None)."""

    rule: Rule
    facts: ArticleFacts
    value: bool | None
    reasons: tuple[str, ...]


def decide(
    rules: Sequence[Rule],
    articles: Sequence[ArticleFacts],
    tags: Mapping[str, tuple[str, ...]],
    searched: Mapping[tuple[str, int], bool] | None = None,
    already: set[tuple[str, int]] | None = None,
) -> list[Decision]:
    """For each rule, the first article (in the order given) of each story that fires it, and the
    articles whose answer waits for a search. Stories that already alerted for a rule
    (`already`: (rule, story id)) are skipped: one alert per rule and story."""
    done = set(already or ())
    out: list[Decision] = []
    for rule in rules:
        for facts in articles:
            if (rule.name, facts.story_id) in done:
                continue
            answers = None
            if searched is not None:
                answers = {
                    n: searched[(n, facts.id)]
                    for n in rule.when.searches()
                    if (n, facts.id) in searched
                }
            outcome = evaluate(rule.when, facts, tags, answers)
            if outcome.value is True:
                done.add((rule.name, facts.story_id))
                out.append(Decision(rule, facts, True, outcome.reasons))
            elif outcome.value is None:
                out.append(Decision(rule, facts, None, ()))
    return out
