"""What the reading room's trainer page shows of one topic: its marks, its current model, and the
unmarked stored articles to ask about next (the least certain first; before any model, the most
like the description). The articles considered are the newest `[topics] learn_sample` stored
originals, as in training (pipeline/app/learning.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pipeline.app.learning_reads import Stored, read_stored
from pipeline.config.settings import Settings
from pipeline.ingest.services import Services
from pipeline.store import learning as learning_store
from pipeline.store import topic_models as model_store
from pipeline.store.db import Warehouse
from pipeline.store.learning import ArticleHeading
from pipeline.store.topic_models import ModelRow
from pipeline.tag import learned
from pipeline.tag.learned import Example, LearnedModel
from pipeline.tag.topics import Tagger, Topic, TopicReading


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
    outdated: int | None  # a version of an older learner, not applied until trained again
    agreement: float | None  # its cross-validated agreement with the marks
    would_change: int  # articles among those considered whose tag the model would change
    considered: int  # stored articles considered (the newest [topics] learn_sample originals)
    candidates: tuple[Candidate, ...]  # least certain first (no model: most like the topic)


@dataclass(frozen=True)
class _Read:
    """What the trainer page reads of the warehouse for one topic."""

    tagger: Tagger
    topic: Topic
    answers: dict[int, bool]  # {article: is about it} of the topic's marks in force
    model_row: ModelRow | None
    stale: bool
    ids: list[int]  # the unmarked articles considered
    stored: dict[int, Stored]
    tagged: set[int]
    headings: dict[int, ArticleHeading]


def _read(settings: Settings, warehouse: Warehouse, services: Services, slug: str) -> _Read:
    """The topic's marks and model, and the unmarked stored articles to consider (KeyError for
    an unknown topic)."""
    leads = services.lead_embedder
    with warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)
        tagger = services.tagger
        topic = {t.slug: t for t in tagger.topics}[slug]
        answers = {
            m.article: m.value
            for m in learning_store.marks_in_force(db)
            if m.kind == "topic" and m.topic == slug
        }
        ids = learning_store.sample_ids(db, settings.topics.learn_sample, set(answers))
        return _Read(
            tagger=tagger,
            topic=topic,
            answers=answers,
            model_row=model_store.current(db, slug).get(slug),
            stale=slug in model_store.stale_topics(db, [slug], learned.LEARNER),
            ids=ids,
            stored=read_stored(db, ids, leads.name if leads else None),
            tagged=learning_store.tagged_with(db, slug, ids),
            headings=learning_store.headings(db, ids),
        )


def _candidate(
    got: _Read, article: int, r: TopicReading, ex: Example, probability: float | None
) -> Candidate:
    heading = got.headings.get(article, ArticleHeading("", "", None))
    return Candidate(
        article,
        heading.title,
        heading.url,
        heading.fetched_at,
        None if probability is None else round(probability, 4),
        round(r.meaning, 4),
        round(r.raw, 4),
        round(float(ex.words), 4),
        r.lexical.terms,
        article in got.tagged,
    )


def _would_change(
    model: LearnedModel | None, probs: np.ndarray | None, order: Sequence[int], tagged: set[int]
) -> int:
    """How many of the articles considered the model would tag otherwise than they are now."""
    if model is None or probs is None:
        return 0
    given = (p >= model.threshold for p in probs)
    return sum(int(g != (a in tagged)) for a, g in zip(order, given, strict=True))


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
    services = services or Services(settings, warehouse=warehouse)
    got = _read(settings, warehouse, services, slug)
    tagger, stored = got.tagger, got.stored
    model = tagger.learned.get(slug)
    order = [a for a in got.ids if a in stored]
    readings = {
        a: tagger.score(got.topic, s.text, s.embedding, s.title, s.lang)
        for a, s in ((a, stored[a]) for a in order)
    }
    examples = [
        tagger.example(readings[a], s.title, s.text, s.embedding, a, s.hashed)
        for a, s in ((a, stored[a]) for a in order)
    ]
    probs = learned.probability(model, examples) if model is not None else None
    candidates = tuple(
        _candidate(
            got,
            order[k],
            readings[order[k]],
            examples[k],
            None if probs is None else float(probs[k]),
        )
        for k, _ in learned.to_ask(
            model, examples, n, set(got.answers), novelty=settings.topics.learn_novelty
        )
    )
    yes = sum(1 for v in got.answers.values() if v)
    row = got.model_row
    fitted = row.version if row is not None and row.parameters is not None else None
    outdated = fitted if row is not None and row.learner != learned.LEARNER else None
    return TrainerView(
        topic=slug,
        label=got.topic.label,
        description=got.topic.description,
        marks=len(got.answers),
        yes=yes,
        no=len(got.answers) - yes,
        version=None if outdated else fitted,
        trained_at=row.trained_at if row else None,
        stale=got.stale and outdated is None,
        outdated=outdated,
        agreement=row.figures.get("agreement") if row else None,
        would_change=_would_change(model, probs, order, got.tagged),
        considered=len(order),
        candidates=candidates,
    )
