"""Applying what topics learned from marks: the current version of each topic's model, loaded for
the tagger, and the marks' own answers laid over tagging results (a mark always wins over the
model and the rule). A warehouse older than the marks' migrations has neither: nothing changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline.models import TagResult, TopicTag
from pipeline.store import learning as learning_store
from pipeline.store import topic_models as model_store
from pipeline.store.db import Db
from pipeline.store.learning import MarkInForce
from pipeline.tag import learned
from pipeline.tag.learned import LearnedModel

THEME = model_store.THEME


def load_models(
    db: Db, slugs: Sequence[str]
) -> tuple[dict[str, LearnedModel], LearnedModel | None]:
    """The current learned part of each topic (of `slugs`) that has one, and the theme's."""
    if not model_store.has_models(db):
        return {}, None
    models = {}
    for slug, row in model_store.current(db).items():
        if row.parameters is None or row.learner != learned.LEARNER:
            continue
        if slug != THEME and slug not in slugs:
            continue
        models[slug] = learned.load(
            row.parameters,
            topic=slug,
            version=row.version,
            marks=row.marks,
            yes=row.yes,
            no=row.no,
            threshold=float(row.figures.get("threshold") or 0.5),
            learner=row.learner,
            figures=row.figures,
        )
    theme = models.pop(THEME, None)
    return models, theme


def model_versions(db: Db) -> tuple[tuple[str, int], ...]:
    """What tells a reader that a topic's model changed (empty before the migration)."""
    return model_store.versions(db) if model_store.has_models(db) else ()


def with_marks(db: Db, results: dict[int, TagResult], min_relevance: float) -> dict[int, TagResult]:
    """Tagging results with the marks in force over them: a yes mark gives the topic (its tag's
    evidence names the mark), a no mark takes it away, an off-theme article is not on the theme.
    The learner and the rule never override a mark."""
    if not learning_store.has_marks(db):
        return results
    by_article: dict[int, list[MarkInForce]] = {}
    for m in learning_store.marks_in_force(db):
        if m.article in results:
            by_article.setdefault(m.article, []).append(m)
    if not by_article:
        return results
    who = learning_store.marked_by(db, [m.id for these in by_article.values() for m in these])
    out = dict(results)
    for a, these in by_article.items():
        out[a] = _marked(results[a], these, who, min_relevance)
    return out


def _marked(
    r: TagResult, marks: Sequence[MarkInForce], who: dict[int, str], min_relevance: float
) -> TagResult:
    """One article's result with its marks' answers."""
    tags = {t.topic: t for t in r.topics}
    off = False
    for m in marks:
        if m.kind == "off_theme":
            off = True
        elif m.topic is not None and m.value:
            had = tags.get(m.topic)
            mark = {"marked": "yes", "mark": m.id, "by": who.get(m.id)}
            tags[m.topic] = (
                replace(had, evidence={**had.evidence, **mark})
                if had is not None
                else TopicTag(m.topic, 1.0, evidence=mark)
            )
        elif m.topic is not None:
            tags.pop(m.topic, None)
    ordered = tuple(sorted(tags.values(), key=lambda t: -t.score))
    on = (bool(ordered) or r.relevance >= min_relevance) and not off
    return TagResult(ordered, r.relevance, on)
