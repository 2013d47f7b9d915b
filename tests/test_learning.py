"""Topics that learn from marks: the learner itself, a topic of one sentence end to end, a learned
topic tagging an article like the marked ones (and `explain` saying why), retag applying the
current version while marks keep their answers, and the trainer page's view."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.app import learning
from pipeline.app.explain import explain_article, learned_line
from pipeline.app.jobs import ingest_job
from pipeline.app.jobs import retag_job as retag  # `newswatch retag`: learn, then re-tag
from pipeline.app.marking import mark_off_theme, mark_topic
from pipeline.cli import cli
from pipeline.config.settings import with_overrides
from pipeline.ingest import run_cycle
from pipeline.store import topic_models as model_store
from pipeline.tag import learned
from pipeline.tag.topics import load_topics
from pipeline.testkit.server import rss
from tests.helpers import write_feeds

ONE_SENTENCE = """
[[topics]]
slug = "harvest"
label = "Grain harvests"
description = "Grain harvests: wheat barley and maize crops, farmers, tonnes and grain exports."
"""

GRAIN = [
    "grain",
    "harvest",
    "wheat",
    "barley",
    "maize",
    "crops",
    "farmers",
    "tonnes",
    "harvested",
    "exports",
]
RICE = [
    "rice",
    "paddies",
    "monsoon",
    "irrigation",
    "planting",
    "seedlings",
    "flooded",
    "terraces",
    "growers",
]
SPORT = [
    "football",
    "match",
    "goal",
    "striker",
    "league",
    "referee",
    "stadium",
    "season",
    "coach",
    "fans",
]
FILLER = [
    "the",
    "a",
    "of",
    "and",
    "in",
    "on",
    "with",
    "for",
    "this",
    "week",
    "said",
    "officials",
    "report",
]


def text_of(rng: random.Random, vocab: list[str], n: int = 40) -> str:
    words = [rng.choice(vocab) if rng.random() < 0.7 else rng.choice(FILLER) for _ in range(n)]
    return " ".join(words).capitalize() + "."


@pytest.fixture
def room(make_services, tmp_path, loopback):
    """A pipeline whose topics file holds one topic of one sentence, with 10 grain, 10 rice and
    10 sport articles ingested from a feed (feed text only)."""
    topics = tmp_path / "topics.toml"
    topics.write_text(ONE_SENTENCE)
    services = make_services(
        f'[topics]\nfile = "{topics}"\nlearn_sample = 500\n[ingest]\nfetch_pages = false\n'
    )
    rng = random.Random(7)
    items = []
    for group, vocab in (("grain", GRAIN), ("rice", RICE), ("sport", SPORT)):
        for k in range(10):
            items.append(
                {
                    "title": f"{group} {k}",
                    "link": f"http://127.0.0.1:9/{group}/{k}",
                    "guid": f"{group}-{k}",
                    "description": " ".join(text_of(rng, vocab) for _ in range(3)),
                }
            )
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(services.settings, [loopback.url("/feed.xml")])
    run_cycle(services)
    with services.warehouse.connect(read_only=True) as db:
        services.ids = dict(db.rows("SELECT title, id FROM articles WHERE source = 'feed'"))
    return services


def tags(services, title: str) -> dict[str, dict]:
    import json

    with services.warehouse.connect(read_only=True) as db:
        return {
            t: json.loads(e)
            for t, e in db.rows(
                "SELECT topic, evidence FROM article_topics WHERE article_id = ?",
                [services.ids[title]],
            )
        }


def mark(services, titles: list[str], value: bool | None) -> None:
    ids = [services.ids[t] for t in titles]
    mark_topic(services.settings, services.warehouse, ids, "harvest", value, by="ana", via="cli")


def test_a_topic_of_one_sentence_loads_with_defaults_and_tags_by_meaning(room):
    [topic] = load_topics(room.settings.topics.file)
    assert topic.keywords == () and topic.semantic_weight == 1.0
    assert topic.threshold == room.settings.topics.default_threshold
    grain = sum("harvest" in tags(room, f"grain {k}") for k in range(10))
    others = sum("harvest" in tags(room, f"{g} {k}") for g in ("rice", "sport") for k in range(10))
    assert grain >= 8 and others == 0
    with room.warehouse.connect(read_only=True) as db:
        assert model_store.current(db) == {}  # no marks: no model, the rule alone


def test_marks_teach_a_topic_and_explain_says_why(room):
    assert "harvest" not in tags(room, "rice 9")  # the description says nothing of rice
    mark(room, ["rice 0", "rice 1", "rice 2", "rice 3"], True)
    mark(room, ["sport 0", "sport 1", "sport 2"], False)
    trained = learning.train_changed(room)
    assert [(t.topic, t.version, t.marks, t.yes, t.no) for t in trained] == [
        ("harvest", 1, 7, 4, 3)
    ]
    assert learning.train_changed(room) == []  # nothing changed since
    retag(room)
    ev = tags(room, "rice 9")["harvest"]
    assert ev["learned"]["version"] == 1 and ev["learned"]["probability"] >= 0.5
    assert "harvest" not in tags(room, "sport 9")
    assert learned_line(ev).startswith("learned from 7 marks (4 yes, 3 no), version 1")
    found = explain_article(room, room.ids["rice 9"])
    [now] = found.scores_now
    assert now.learned and now.learned.startswith("learned from 7 marks")
    shown = CliRunner().invoke(
        cli, ["--config", room.settings.source, "explain", str(room.ids["rice 9"])]
    )
    assert shown.exit_code == 0, shown.output
    assert "learned from 7 marks (4 yes, 3 no), version 1, probability" in shown.output


def test_retag_applies_the_current_version_and_marks_keep_their_answers(room):
    mark(room, ["rice 0", "rice 1", "rice 2"], True)
    mark(room, ["sport 0", "sport 1"], False)
    retag(room)  # trains version 1 first: its marks changed
    assert tags(room, "rice 8")["harvest"]["learned"]["version"] == 1
    # The analyst says this grain article is not about it, and another rice one is.
    mark(room, ["grain 0"], False)
    mark(room, ["rice 3"], True)
    retag(room)
    assert tags(room, "rice 8")["harvest"]["learned"]["version"] == 2
    assert "harvest" not in tags(room, "grain 0")  # the mark, whatever the model says
    assert tags(room, "rice 0")["harvest"]["marked"] == "yes"
    # Every mark withdrawn: a version without parameters, and the rule decides again.
    mark(room, ["rice 0", "rice 1", "rice 2", "rice 3", "sport 0", "sport 1", "grain 0"], None)
    retag(room)
    with room.warehouse.connect(read_only=True) as db:
        row = model_store.current(db)["harvest"]
    assert row.version == 3 and row.parameters is None and row.marks == 0
    assert "harvest" not in tags(room, "rice 8") and "learned" not in tags(room, "grain 1").get(
        "harvest", {}
    )


def test_off_theme_marks_lower_the_relevance_of_articles_like_them(room):
    with room.warehouse.connect(read_only=True) as db:
        before = dict(db.rows("SELECT title, relevance FROM articles WHERE source = 'feed'"))
    ids = [room.ids[f"sport {k}"] for k in range(4)]
    mark_off_theme(room.settings, room.warehouse, ids, True, by="ana", via="cli")
    retag(room)
    with room.warehouse.connect(read_only=True) as db:
        after = {
            t: (r, on)
            for t, r, on in db.rows(
                "SELECT title, relevance, on_topic FROM articles WHERE source = 'feed'"
            )
        }
        theme = model_store.current(db)[model_store.THEME]
    assert theme.yes == 4
    assert after["sport 9"][0] < before["sport 9"] or before["sport 9"] == 0
    assert after["grain 5"][0] == pytest.approx(before["grain 5"], abs=1e-3)
    assert not after["sport 0"][1]  # marked off the theme


def test_the_trainer_view_asks_about_the_least_certain(room):
    view = learning.trainer_view(room.settings, room.warehouse, room, "harvest", n=5)
    assert view.version is None and view.marks == 0 and len(view.candidates) == 5
    # Cold start: the articles most like the description first.
    assert all(c.probability is None for c in view.candidates)
    assert [c.raw_similarity for c in view.candidates] == sorted(
        (c.raw_similarity for c in view.candidates), reverse=True
    )
    mark(room, ["rice 0", "rice 1"], True)
    mark(room, ["sport 0", "sport 1"], False)
    assert learning.trainer_view(room.settings, room.warehouse, room, "harvest").stale
    learning.train_changed(room)
    view = learning.trainer_view(room.settings, room.warehouse, room, "harvest", n=5)
    assert view.version == 1 and (view.marks, view.yes, view.no) == (4, 2, 2) and not view.stale
    assert view.agreement is not None and view.would_change > 0  # retag not run yet
    marked = {room.ids[t] for t in ("rice 0", "rice 1", "sport 0", "sport 1")}
    assert not marked & {c.article_id for c in view.candidates}
    assert all(c.probability is not None for c in view.candidates)
    # By uncertainty alone when unlike kinds are not preferred (tests/test_learning.py's
    # test_the_trainer_asks_about_a_kind_no_mark_has_reached shows the preference).
    plain = with_overrides(room.settings, topics={"learn_novelty": 0.0})
    view = learning.trainer_view(plain, room.warehouse, room, "harvest", n=5)
    gaps = [abs(c.probability - 0.5) for c in view.candidates]
    assert gaps == sorted(gaps)


def test_two_trainings_of_one_topic_at_once_both_store_a_version(room, monkeypatch):
    """The reading room trains a topic after a mark while the daemon's cycle may train it in
    another thread of the same process: one waits for the other, each gets its own version."""
    mark(room, ["rice 0", "rice 1"], True)
    mark(room, ["sport 0"], False)
    add = model_store.add

    def slow_add(db, **row):
        version = add(db, **row)
        time.sleep(0.5)  # its transaction stays open: a second one storing now would collide
        return version

    monkeypatch.setattr(model_store, "add", slow_add)
    trained, failed = [], []

    def train() -> None:
        try:
            trained.extend(learning.train_changed(room, topics=["harvest"]))
        except Exception as exc:
            failed.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failed == []
    assert sorted((t.topic, t.version) for t in trained) == [("harvest", 1), ("harvest", 2)]


def test_the_learner_alone():
    rng = np.random.default_rng(0)
    dim = 16

    def ex(center: np.ndarray, article: int, text: str) -> learned.Example:
        v = center + 0.1 * rng.standard_normal(dim)
        v /= np.linalg.norm(v)
        return learned.Example(v, v[None], text, float(v @ topic_v), 0.0, article)

    topic_v, other_v = np.eye(dim)[0], np.eye(dim)[1]
    yes = [(ex(topic_v, i, "copper mine output"), True) for i in range(1, 6)]
    no = [(ex(other_v, i, "tennis final"), False) for i in range(6, 11)]
    pool = [ex(other_v if i % 5 else topic_v, i, "misc") for i in range(11, 60)]
    anchor = learned.Example(topic_v, topic_v[None], "copper mining", 1.0, 0.0)
    params = learned.LearnerParams()
    model = learned.train("copper", yes + no, [anchor], pool, params, version=3)
    p = learned.probability(model, [ex(topic_v, 0, "copper mine"), ex(other_v, 0, "tennis")])
    assert p[0] > 0.5 > p[1]
    back = learned.load(
        learned.dump(model),
        topic="copper",
        version=3,
        marks=10,
        yes=5,
        no=5,
        threshold=0.5,
        learner=learned.LEARNER,
        figures={},
    )
    assert np.allclose(learned.probability(back, pool), learned.probability(model, pool))
    assert learned.cv_agreement("copper", yes + no, [anchor], pool, params) >= 0.8
    assert learned.cv_agreement("copper", yes[:1] + no, [anchor], pool, params) is None
    cold = learned.to_ask(None, pool, 3, novelty=0.5)
    assert [pool[i].meaning for i, _ in cold] == sorted((e.meaning for e in pool), reverse=True)[:3]
    asked = learned.to_ask(model, pool, 4, marked={pool[0].article}, novelty=0.5)
    assert pool[0].article not in {pool[i].article for i, _ in asked}


def test_a_headline_decides_where_the_texts_read_alike():
    """Two kinds of article whose texts pool to the same vector and share their words are told
    apart by their headlines once the marks have taught which headline is the topic's; without
    a headline vector the pooled one stands in, and the model cannot tell them apart."""
    dim = 16
    basis = np.eye(dim)
    pooled = (basis[2] + basis[3]) / np.sqrt(2)

    def ex(title: np.ndarray | None, article: int) -> learned.Example:
        return learned.Example(
            pooled, pooled[None], "harbour report", 0.3, 0.0, article, None, title
        )

    yes = [(ex(basis[0], k), True) for k in range(1, 6)]
    no = [(ex(basis[1], k), False) for k in range(6, 11)]
    pool = [ex(basis[4 + k % 8], 20 + k) for k in range(40)]
    model = learned.train("port", yes + no, [], pool, learned.LearnerParams())
    p = learned.probability(model, [ex(basis[0], 100), ex(basis[1], 101)])
    assert p[0] > model.threshold > p[1]
    blind = learned.train(
        "port", [(ex(None, a.article), v) for a, v in yes + no], [], pool, learned.LearnerParams()
    )
    q = learned.probability(blind, [ex(basis[0], 100), ex(basis[1], 101)])
    assert q[0] == pytest.approx(q[1])


def test_a_model_of_an_older_learner_is_trained_again_at_the_next_cycle(room):
    """After an upgrade that changes the learner, a topic's stored version is not applied (its
    parameters read other features): the next cycle trains the topic again from its marks."""
    mark(room, ["rice 0", "rice 1", "rice 2"], True)
    mark(room, ["sport 0", "sport 1"], False)
    retag(room)
    with room.warehouse.connect() as db:
        db.execute("UPDATE topic_models SET learner = 'logreg-v0' WHERE topic = 'harvest'")
    view = learning.trainer_view(room.settings, room.warehouse, room, "harvest")
    assert (view.outdated, view.version, view.stale) == (1, None, False)  # the rule decides
    assert ingest_job(room).status == "ok"
    with room.warehouse.connect(read_only=True) as db:
        row = model_store.current(db)["harvest"]
    assert (row.version, row.learner, row.marks) == (2, learned.LEARNER, 5)
    view = learning.trainer_view(room.settings, room.warehouse, room, "harvest")
    assert (view.outdated, view.version, view.stale) == (None, 2, False)
    retag(room)
    assert tags(room, "rice 8")["harvest"]["learned"]["version"] == 2


def test_the_trainer_asks_about_a_kind_no_mark_has_reached():
    """Among articles the model is about as unsure of, the trainer asks first about the one
    unlike every marked article (a kind the marks have not reached); with
    `[topics] learn_novelty` at 0 it asks by uncertainty alone."""
    dim = 16
    basis = np.eye(dim)

    def ex(v: np.ndarray, article: int) -> learned.Example:
        v = v / np.linalg.norm(v)
        return learned.Example(v, v[None], "text", float(v @ basis[0]), 0.0, article)

    yes = [(ex(basis[0] + 0.05 * basis[k], k), True) for k in range(2, 7)]
    no = [(ex(basis[1] + 0.05 * basis[k], 10 + k), False) for k in range(2, 7)]
    anchor = learned.Example(basis[0], basis[0][None], "copper", 1.0, 0.0)
    model = learned.train("copper", yes + no, [anchor], [], learned.LearnerParams())
    # Between the two marked kinds (the model is unsure of it), and a kind of its own (as unsure,
    # or a little less: the model has no evidence either way).
    between = ex(basis[0] + basis[1], 100)
    unlike = ex(basis[9] + 0.3 * basis[0], 101)
    p = learned.probability(model, [between, unlike])
    assert abs(p[0] - 0.5) < abs(p[1] - 0.5)  # uncertainty alone prefers `between`
    assert [i for i, _ in learned.to_ask(model, [between, unlike], 1, novelty=0.0)] == [0]
    assert [i for i, _ in learned.to_ask(model, [between, unlike], 1, novelty=0.5)] == [1]
