"""Topics that learn from marks: training a new version of a topic's model when its marks change.
Loading the current versions for the tagger and laying the marks' answers over a retag's results
are pipeline/ingest/learned.py's, what the reading room's trainer page shows (the articles to
ask about next) pipeline/app/learning_view.py's; their names are importable from here too.

When a topic is trained: at the daemon's next ingest cycle, at `newswatch retag`, or at once when
the reading room calls `train_changed` after a mark. A topic's model is trained again only when a
mark on it was made or withdrawn since its current version (`topic_models.last_mark`); a topic
whose marks were all withdrawn gets a version without parameters, and its rule decides again.
One training runs at a time in a process. The pure part (features, training, probabilities, what
to ask) is pipeline/tag/learned.py.

The unmarked articles a topic learns the news at large from, and that the trainer page ranks,
are the newest `[topics] learn_sample` stored originals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline.app.learning_reads import Stored, example_of, read_stored
from pipeline.app.learning_view import Candidate, TrainerView, trainer_view
from pipeline.config.settings import Settings
from pipeline.ingest.learned import load_models, model_versions, with_marks
from pipeline.store import learning as learning_store
from pipeline.store import topic_models as model_store
from pipeline.store.db import Warehouse
from pipeline.store.learning import MarkInForce
from pipeline.store.topic_models import stale_topics
from pipeline.tag import learned
from pipeline.tag.learned import Example, LearnedModel, LearnerParams
from pipeline.tag.topics import Tagger, Topic

if TYPE_CHECKING:
    from pipeline.embed.english import Embedder
    from pipeline.ingest.services import Services

__all__ = [
    "THEME",
    "Candidate",
    "Trained",
    "TrainerView",
    "load_models",
    "model_versions",
    "params_of",
    "stale_topics",
    "train_before_cycle",
    "train_changed",
    "trainer_view",
    "with_marks",
]

log = logging.getLogger(__name__)
THEME = model_store.THEME
#: One training at a time in this process: the reading room trains a topic right after a mark
#: (in a thread of its own) while the daemon's cycle may train in another, and two versions of
#: one topic stored at once would take the same number.
_TRAINING = threading.Lock()


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


@dataclass(frozen=True)
class _Inputs:
    """What one training read of the warehouse."""

    tagger: Tagger
    todo: list[str]  # the topics (and THEME) to train
    newest: dict[str, int]  # the newest mark's id per topic
    marks: list[MarkInForce]
    stored: dict[int, Stored]  # the marked articles, the sample and the seeds
    sample_ids: list[int]  # the unmarked articles that stand for the news at large
    seeds: list[int]


@dataclass(frozen=True, eq=False)
class _Version:
    """A trained model (None: no marks left) before it is stored."""

    trained: Trained
    model: LearnedModel | None
    last_mark: int


def train_changed(
    services: Services, *, topics: Sequence[str] | None = None, force: bool = False
) -> list[Trained]:
    """Train a new version of each topic whose marks changed since its current model (or of
    `topics`; `force`: even when unchanged). Reads the warehouse, trains without holding it,
    stores the versions in one short transaction; the tagger of `services` uses them from its
    next refresh. One training at a time in a process (a second waits for the first). Nothing
    when [topics] learn is off."""
    if not services.settings.topics.learn:
        return []
    with _TRAINING:
        inputs = _read(services, topics, force)
        if inputs is None:
            return []
        params = params_of(services.settings)
        versions = [_train(services.embedder, inputs, slug, params) for slug in inputs.todo]
        out = _store(services.warehouse, [v for v in versions if v is not None])
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


def _read(services: Services, topics: Sequence[str] | None, force: bool) -> _Inputs | None:
    """What the topics to train read of the warehouse (None: no topic to train)."""
    leads = services.lead_embedder
    with services.warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)
        tagger = services.tagger
        slugs = [t.slug for t in tagger.topics]
        if force:
            todo = [*slugs, THEME]
        else:
            todo = stale_topics(db, slugs, learned.LEARNER) if topics is None else list(topics)
        if topics is not None:
            todo = [t for t in todo if t in topics]
        if not todo:
            return None
        marks = learning_store.marks_in_force(db)
        marked_ids = {m.article for m in marks}
        sample = learning_store.sample_ids(db, services.settings.topics.learn_sample, marked_ids)
        seeds = learning_store.seed_ids(db)
        stored = read_stored(
            db, sorted(marked_ids | set(sample) | set(seeds)), leads.name if leads else None
        )
        newest = model_store.newest_marks(db)
    return _Inputs(tagger, list(todo), newest, marks, stored, sample, seeds)


def _train(
    embedder: Embedder, inputs: _Inputs, slug: str, params: LearnerParams
) -> _Version | None:
    """A new version of one topic's model, or of the theme's (None: a topic no longer
    configured)."""
    started = time.perf_counter()
    by_slug = {t.slug: t for t in inputs.tagger.topics}
    if slug == THEME:
        model, agreement = _train_theme(inputs, params)
    elif slug in by_slug:
        model, agreement = _train_topic(embedder, inputs, by_slug[slug], params)
    else:
        return None
    seconds = time.perf_counter() - started
    trained = Trained(
        slug,
        0,
        model.marks if model else 0,
        model.yes if model else 0,
        model.no if model else 0,
        agreement,
        round(seconds, 2),
        model is not None,
    )
    return _Version(trained, model, inputs.newest.get(slug, 0))


def _store(warehouse: Warehouse, versions: Sequence[_Version]) -> list[Trained]:
    """Store the new versions in one transaction; what was trained, with their numbers."""
    now = datetime.now(UTC)
    out = []
    with warehouse.transaction() as db:
        for v in versions:
            t, model = v.trained, v.model
            version = model_store.add(
                db,
                topic=t.topic,
                trained_at=now,
                marks=t.marks,
                yes=t.yes,
                no=t.no,
                last_mark=v.last_mark,
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
    return out


def _anchors(embedder: Embedder, tagger: Tagger, topic: Topic) -> list[Example]:
    """The topic's description and exemplars as the learner reads them (positives)."""
    texts = [topic.description, *topic.exemplars]
    out = []
    for text, emb in zip(texts, embedder.embed(texts), strict=True):
        r = tagger.score(topic, text, emb, "", "en")
        out.append(tagger.example(r, "", text, emb))
    return out


def _train_topic(
    embedder: Embedder, inputs: _Inputs, topic: Topic, params: LearnerParams
) -> tuple[LearnedModel | None, float | None]:
    """A topic's model from its marks, its description and exemplars, and the sample."""
    tagger, stored = inputs.tagger, inputs.stored
    answers = [
        (m.article, m.value)
        for m in inputs.marks
        if m.kind == "topic" and m.topic == topic.slug and m.article in stored
    ]
    if not answers:
        return None, None
    marked = [(example_of(tagger, topic, stored[a]), v) for a, v in answers]
    anchors = _anchors(embedder, tagger, topic)
    pool = [example_of(tagger, topic, stored[a]) for a in inputs.sample_ids if a in stored]
    model = learned.train(topic.slug, marked, anchors, pool, params)
    agreement = learned.cv_agreement(topic.slug, marked, anchors, pool, params)
    return model, agreement


def _theme_example(tagger: Tagger, s: Stored) -> Example:
    return learned.example(
        s.embedding,
        f"{s.title}\n{s.text}",
        tagger.relevance(s.embedding),
        0.0,
        s.article,
        s.hashed,
    )


def _train_theme(
    inputs: _Inputs, params: LearnerParams
) -> tuple[LearnedModel | None, float | None]:
    """The theme's model: off-theme marks are its yes; the seeds and the articles marked yes
    for a topic are on the theme (its no). No unmarked article counts either way."""
    tagger, stored = inputs.tagger, inputs.stored
    off = [m.article for m in inputs.marks if m.kind == "off_theme" and m.article in stored]
    if not off:
        return None, None
    on = {m.article for m in inputs.marks if m.kind == "topic" and m.value and m.article in stored}
    on = (on - set(off)) | {a for a in inputs.seeds if a in stored}
    marked = [(_theme_example(tagger, stored[a]), True) for a in off] + [
        (_theme_example(tagger, stored[a]), False) for a in sorted(on)
    ]
    model = learned.train(THEME, marked, [], [], params)
    # Its yes and no count the analyst's marks only (the seeds are not marks).
    model = replace(model, marks=len(off), yes=len(off), no=0)
    return model, None
