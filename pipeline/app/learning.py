"""Topics that learn from marks: training a new version of a topic's model when its marks change,
loading the current versions for the tagger, the marks' answers over a retag's results, and what
the reading room's trainer page shows (the articles to ask about next).

When a topic is trained: at the daemon's next ingest cycle, at `newswatch retag`, or at once when
the reading room calls `train_changed` after a mark. A topic's model is trained again only when a
mark on it was made or withdrawn since its current version (`topic_models.last_mark`); a topic
whose marks were all withdrawn gets a version without parameters, and its rule decides again.
The pure part (features, training, probabilities, what to ask) is pipeline/tag/learned.py.

The unmarked articles a topic learns the news at large from, and that the trainer page ranks,
are the newest `[topics] learn_sample` stored originals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.config.settings import Settings
from pipeline.models import TagResult, TopicTag
from pipeline.store import topic_models as model_store
from pipeline.store import topics as topics_store
from pipeline.store.db import Db, Warehouse
from pipeline.tag import learned
from pipeline.tag.learned import Example, LearnedModel, LearnerParams
from pipeline.tag.topics import Tagger, Topic

if TYPE_CHECKING:
    from pipeline.ingest.services import Services

log = logging.getLogger(__name__)
THEME = model_store.THEME


def params_of(settings: Settings) -> LearnerParams:
    """The learner's parameters from the [topics] learn_* settings."""
    t = settings.topics
    return LearnerParams(
        c=t.learn_c,
        word_weight=t.learn_word_weight,
        unlabelled_weight=t.learn_unlabelled_weight,
        threshold=t.learn_threshold,
    )


@dataclass(frozen=True)
class Trained:
    """One new version of a topic's model."""

    topic: str
    version: int
    marks: int
    yes: int
    no: int
    agreement: float | None  # share of marks a model trained without each answers alike
    seconds: float
    active: bool  # False: no marks left, the rule decides again


# -- reading the warehouse ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    """A stored article as the learner reads it: the topic-free part of its example."""

    article: int
    title: str
    text: str
    lang: str | None
    embedding: Any  # pipeline.models.Embedding
    hashed: Any  # its hashed words (a 1-row sparse matrix)


def _read(db: Db, ids: Sequence[int], lead_model: str | None) -> dict[int, _Stored]:
    rows = list(topics_store.stored_embeddings(db, list(ids), lead_model))
    if not rows:
        return {}
    words = learned.hashed_words([f"{title}\n{text}" for _, title, text, _, _ in rows])
    return {
        int(aid): _Stored(int(aid), title, text, lang, emb, words[k])
        for k, (aid, title, text, emb, lang) in enumerate(rows)
    }


def _sample_ids(db: Db, n: int, leave_out: set[int] | None = None) -> list[int]:
    """The newest n stored originals with vectors (copies say what their original says)."""
    rows = db.rows(
        "SELECT a.id FROM articles a JOIN embeddings e ON e.article_id = a.id "
        "WHERE a.duplicate_of IS NULL AND a.source <> 'seed' ORDER BY a.id DESC LIMIT ?",
        [n + len(leave_out or ())],
    )
    ids = [int(a) for (a,) in rows if int(a) not in (leave_out or set())]
    return ids[:n]


def _example(tagger: Tagger, topic: Topic, s: _Stored) -> Example:
    r = tagger.score(topic, s.text, s.embedding, s.title, s.lang)
    return tagger.example(r, s.title, s.text, s.embedding, s.article, s.hashed)


def _anchors(services: Services, topic: Topic) -> list[Example]:
    """The topic's description and exemplars as the learner reads them (positives)."""
    texts = [topic.description, *topic.exemplars]
    out = []
    for text, emb in zip(texts, services.embedder.embed(texts), strict=True):
        r = services.tagger.score(topic, text, emb, "", "en")
        out.append(services.tagger.example(r, "", text, emb))
    return out


def _mark_rows(db: Db) -> list[tuple[int, str, str | None, bool, int]]:
    """(article, kind, topic, value, mark id) of the topic and off-theme marks in force."""
    return [
        (int(a), str(k), None if t is None else str(t), bool(v), int(i))
        for a, k, t, v, i in db.rows(
            "SELECT article_id, kind, topic, value, id FROM current_marks "
            "WHERE kind IN ('topic', 'off_theme') ORDER BY id"
        )
    ]


# -- training -------------------------------------------------------------------------------------


def stale_topics(db: Db, slugs: Sequence[str]) -> list[str]:
    """Topics (and THEME) with a mark made or withdrawn since their current model."""
    newest = model_store.newest_marks(db)
    current = model_store.current(db)
    out = []
    for slug in [*slugs, THEME]:
        last = newest.get(slug, 0)
        have = current.get(slug)
        if (have is None and last > 0) or (have is not None and last > have.last_mark):
            out.append(slug)
    return out


def train_changed(
    services: Services, *, topics: Sequence[str] | None = None, force: bool = False
) -> list[Trained]:
    """Train a new version of each topic whose marks changed since its current model (or of
    `topics`; `force`: even when unchanged). Reads the warehouse, trains without holding it,
    stores the versions in one short transaction; the tagger of `services` uses them from its
    next refresh. Nothing when [topics] learn is off."""
    settings = services.settings
    if not settings.topics.learn:
        return []
    leads = services.lead_embedder
    with services.warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)
        tagger = services.tagger
        slugs = [t.slug for t in tagger.topics]
        todo = [*slugs, THEME] if force else stale_topics(db, slugs) if topics is None else topics
        if topics is not None:
            todo = [t for t in todo if t in topics]
        if not todo:
            return []
        newest = model_store.newest_marks(db)
        marks = _mark_rows(db)
        marked_ids = {a for a, *_ in marks}
        sample_ids = _sample_ids(db, settings.topics.learn_sample, marked_ids)
        seeds = [int(a) for (a,) in db.rows("SELECT id FROM articles WHERE source = 'seed'")]
        stored = _read(
            db, sorted(marked_ids | set(sample_ids) | set(seeds)), leads.name if leads else None
        )
    params = params_of(settings)
    trained: list[tuple[Trained, LearnedModel | None, int]] = []
    by_slug = {t.slug: t for t in tagger.topics}
    for slug in todo:
        started = time.perf_counter()
        if slug == THEME:
            model, agreement = _train_theme(tagger, marks, stored, seeds, params)
        elif slug in by_slug:
            model, agreement = _train_topic(
                services, by_slug[slug], marks, stored, sample_ids, params
            )
        else:
            continue
        seconds = time.perf_counter() - started
        trained.append(
            (
                Trained(
                    slug,
                    0,
                    model.marks if model else 0,
                    model.yes if model else 0,
                    model.no if model else 0,
                    agreement,
                    round(seconds, 2),
                    model is not None,
                ),
                model,
                newest.get(slug, 0),
            )
        )
    now = datetime.now(UTC)
    out = []
    with services.warehouse.transaction() as db:
        for t, model, last in trained:
            version = model_store.add(
                db,
                topic=t.topic,
                trained_at=now,
                marks=t.marks,
                yes=t.yes,
                no=t.no,
                last_mark=last,
                learner=learned.LEARNER if model else "none",
                parameters=learned.dump(model) if model else None,
                figures={
                    "threshold": model.threshold if model else None,
                    "agreement": t.agreement,
                    "seconds": t.seconds,
                    **(model.figures if model else {}),
                },
            )
            out.append(replace(t, version=version))
    for t in out:
        log.info(
            "topic %s learned version %d from %d marks (%d yes, %d no) in %.1f s",
            t.topic,
            t.version,
            t.marks,
            t.yes,
            t.no,
            t.seconds,
        )
    return out


def train_before_cycle(services: Services) -> list[Trained]:
    """train_changed for the daemon's cycle: a failure is logged, and the cycle tags with the
    versions it has."""
    try:
        return train_changed(services)
    except Exception:  # the learned part must not stop ingest
        log.exception("training the topics' learned parts failed")
        return []


def _train_topic(
    services: Services,
    topic: Topic,
    marks: Sequence[tuple[int, str, str | None, bool, int]],
    stored: dict[int, _Stored],
    sample_ids: Sequence[int],
    params: LearnerParams,
) -> tuple[LearnedModel | None, float | None]:
    tagger = services.tagger
    answers = [
        (a, v) for a, kind, t, v, _ in marks if kind == "topic" and t == topic.slug and a in stored
    ]
    if not answers:
        return None, None
    marked = [(_example(tagger, topic, stored[a]), v) for a, v in answers]
    anchors = _anchors(services, topic)
    pool = [_example(tagger, topic, stored[a]) for a in sample_ids if a in stored]
    model = learned.train(topic.slug, marked, anchors, pool, params)
    agreement = learned.cv_agreement(topic.slug, marked, anchors, pool, params)
    return model, agreement


def _theme_example(tagger: Tagger, s: _Stored) -> Example:
    return learned.example(
        s.embedding,
        f"{s.title}\n{s.text}",
        tagger.relevance(s.embedding),
        0.0,
        s.article,
        s.hashed,
    )


def _train_theme(
    tagger: Tagger,
    marks: Sequence[tuple[int, str, str | None, bool, int]],
    stored: dict[int, _Stored],
    seeds: Sequence[int],
    params: LearnerParams,
) -> tuple[LearnedModel | None, float | None]:
    """The theme's model: off-theme marks are its yes; the seeds and the articles marked yes
    for a topic are on the theme (its no). No unmarked article counts either way."""
    off = [a for a, kind, _, _, _ in marks if kind == "off_theme" and a in stored]
    if not off:
        return None, None
    on = {a for a, kind, _, v, _ in marks if kind == "topic" and v and a in stored} - set(off)
    on |= {a for a in seeds if a in stored}
    marked = [(_theme_example(tagger, stored[a]), True) for a in off] + [
        (_theme_example(tagger, stored[a]), False) for a in sorted(on)
    ]
    model = learned.train(THEME, marked, [], [], params)
    # Its yes and no count the analyst's marks only (the seeds are not marks).
    model = replace(model, marks=len(off), yes=len(off), no=0)
    return model, None


# -- loading and applying -------------------------------------------------------------------------


def load_models(
    db: Db, slugs: Sequence[str]
) -> tuple[dict[str, LearnedModel], LearnedModel | None]:
    """The current learned part of each topic (of `slugs`) that has one, and the theme's."""
    try:
        rows = model_store.current(db)
    except duckdb.CatalogException:  # a warehouse the migration has not reached yet
        return {}, None
    models = {}
    for slug, row in rows.items():
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
    try:
        return model_store.versions(db)
    except duckdb.CatalogException:
        return ()


def with_marks(db: Db, results: dict[int, TagResult], min_relevance: float) -> dict[int, TagResult]:
    """Tagging results with the marks in force over them: a yes mark gives the topic (its tag's
    evidence names the mark), a no mark takes it away, an off-theme article is not on the theme.
    The learner and the rule never override a mark."""
    try:
        marks = _mark_rows(db)
    except duckdb.CatalogException:
        return results
    by_article: dict[int, list[tuple[str, str | None, bool, int]]] = {}
    for a, kind, t, v, i in marks:
        if a in results:
            by_article.setdefault(a, []).append((kind, t, v, i))
    if not by_article:
        return results
    who = dict(
        db.rows(
            "SELECT id, marked_by FROM marks WHERE id IN (SELECT unnest(?))",
            [[i for *_, i in marks]],
        )
    )
    out = dict(results)
    for a, these in by_article.items():
        r = results[a]
        tags = {t.topic: t for t in r.topics}
        off = False
        for kind, topic, value, mark_id in these:
            if kind == "off_theme":
                off = True
            elif topic is not None and value:
                had = tags.get(topic)
                mark = {"marked": "yes", "mark": mark_id, "by": who.get(mark_id)}
                tags[topic] = (
                    replace(had, evidence={**had.evidence, **mark})
                    if had is not None
                    else TopicTag(topic, 1.0, evidence=mark)
                )
            elif topic is not None:
                tags.pop(topic, None)
        ordered = tuple(sorted(tags.values(), key=lambda t: -t.score))
        on = (bool(ordered) or r.relevance >= min_relevance) and not off
        out[a] = TagResult(ordered, r.relevance, on)
    return out


# -- the trainer page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An article the trainer page asks about, with what the topic's parts say of it now."""

    article_id: int
    title: str
    url: str
    fetched_at: datetime | None
    probability: float | None  # the learned part's (None: no model yet, ranked by meaning)
    meaning: float  # the rule's meaning (0..1, rescaled)
    raw_similarity: float  # the best chunks' cosine to the description and exemplars
    words: float  # the rule's keyword score (0..1)
    matched_terms: tuple[str, ...]
    tagged: bool  # whether the article has the topic now


@dataclass(frozen=True)
class TrainerView:
    """What the trainer page of one topic shows."""

    topic: str
    label: str
    description: str
    marks: int  # marks in force on the topic
    yes: int
    no: int
    version: int | None  # the current model's version (None: none, the rule decides)
    trained_at: datetime | None
    stale: bool  # marks changed since that version (train_changed trains a new one)
    agreement: float | None  # its cross-validated agreement with the marks
    would_change: int  # articles among those considered whose tag the model would change
    considered: int  # stored articles considered (the newest [topics] learn_sample originals)
    candidates: tuple[Candidate, ...]  # least certain first (no model: most like the topic)


def trainer_view(
    settings: Settings,
    warehouse: Warehouse,
    services: Services | None = None,
    slug: str = "",
    n: int = 20,
) -> TrainerView:
    """The topic's marks, its current model and the n unmarked stored articles to ask about
    next. `services` (kept by the caller) holds the loaded model and tagger; without it one is
    made (seconds). KeyError for an unknown topic."""
    from pipeline.ingest.services import Services

    services = services or Services(settings, warehouse=warehouse)
    leads = services.lead_embedder
    with warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)
        tagger = services.tagger
        topic = {t.slug: t for t in tagger.topics}[slug]
        answers = {a: v for a, kind, t, v, _ in _mark_rows(db) if kind == "topic" and t == slug}
        model_row = model_store.current(db, slug).get(slug)
        stale = slug in stale_topics(db, [slug])
        ids = _sample_ids(db, settings.topics.learn_sample, set(answers))
        stored = _read(db, ids, leads.name if leads else None)
        tagged = {
            int(a)
            for (a,) in db.rows(
                "SELECT article_id FROM article_topics WHERE topic = ? "
                "AND article_id IN (SELECT unnest(?))",
                [slug, ids],
            )
        }
        info = {
            int(a): (t, u, f)
            for a, t, u, f in db.rows(
                "SELECT id, title, url, fetched_at FROM articles WHERE id IN (SELECT unnest(?))",
                [ids],
            )
        }
    model = tagger.learned.get(slug)
    order = [a for a in ids if a in stored]
    readings = {
        a: tagger.score(topic, stored[a].text, stored[a].embedding, stored[a].title, stored[a].lang)
        for a in order
    }
    examples = [
        tagger.example(
            readings[a], stored[a].title, stored[a].text, stored[a].embedding, a, stored[a].hashed
        )
        for a in order
    ]
    probs = learned.probability(model, examples) if model is not None else None
    would = 0
    if probs is not None and model is not None:
        would = sum(
            int((p >= model.threshold) != (a in tagged)) for a, p in zip(order, probs, strict=True)
        )
    ask = learned.to_ask(model, examples, n, set(answers))
    candidates = []
    for k, _ in ask:
        a = order[k]
        r = readings[a]
        title, url, fetched = info.get(a, ("", "", None))
        candidates.append(
            Candidate(
                a,
                title,
                url,
                fetched,
                None if probs is None else round(float(probs[k]), 4),
                round(r.meaning, 4),
                round(r.raw, 4),
                round(float(examples[k].words), 4),
                r.lexical.terms,
                a in tagged,
            )
        )
    yes = sum(1 for v in answers.values() if v)
    return TrainerView(
        topic=slug,
        label=topic.label,
        description=topic.description,
        marks=len(answers),
        yes=yes,
        no=len(answers) - yes,
        version=model_row.version if model_row and model_row.parameters is not None else None,
        trained_at=model_row.trained_at if model_row else None,
        stale=stale,
        agreement=model_row.figures.get("agreement") if model_row else None,
        would_change=would,
        considered=len(order),
        candidates=tuple(candidates),
    )
