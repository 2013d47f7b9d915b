"""Analysts' splits and merges are remembered: later decisions keep a split article apart from
the story it left and treat merged stories as one, in the index the daemon keeps, after a
restart and after `dedup --rebuild`."""

from __future__ import annotations

import random

import numpy as np

from pipeline.app import marking
from pipeline.config.settings import DedupSettings
from pipeline.dedup.index import DedupIndex
from pipeline.ingest import Services
from pipeline.ingest.rebuild import rebuild_dedup
from tests.test_stories import E, doc
from tests.webroom import draft, store


def test_a_split_article_is_never_merged_back_and_a_merge_holds():
    index = DedupIndex(DedupSettings())
    d1, d2 = index.decide([doc(1, "first report", E[0]), doc(2, "second report", E[0])])
    assert d1.story_id == d2.story_id == 1
    index.apply_story_marks([("split", 2, 1)], {})
    assert (index.story_of(1), index.story_of(2)) == (1, 2)
    # An article that holds with both would merge two close stories; these were split.
    [d3] = index.decide([doc(3, "third report", E[0])])
    assert d3.merged_stories == ()
    assert index.story_of(1) != index.story_of(2)
    # Two unrelated stories marked as one: a later report of either joins the one story.
    index.decide([doc(10, "event a", E[5]), doc(11, "event b", E[6])])
    index.apply_story_marks([("split", 2, 1), ("merge", 10, 11)], {})
    index.apply_story_marks([("split", 2, 1), ("merge", 10, 11)], {})  # again: no change
    [d12] = index.decide([doc(12, "event b again", E[6])])
    assert d12.story_id == 10 and index.story_of(11) == 10


def words(seed: int, vocabulary: list[str]) -> str:
    """The vocabulary in another order: the same meaning (bag of words), no shared passage."""
    rng = random.Random(seed)
    chosen = vocabulary[:]
    rng.shuffle(chosen)
    return " ".join(chosen) + "."


def test_story_marks_reach_later_articles_a_restart_and_a_rebuild(make_settings, fake_embedder):
    settings = make_settings()
    services = Services(settings, embedder=fake_embedder)
    services.warehouse.migrate()
    space = [f"orbit{k}" for k in range(40)]
    harbour = [f"harbour{k}" for k in range(40)]
    t1, t2 = store(
        services,
        [
            draft("Orbit one", words(1, space), url="https://a.example/1", hours_ago=3),
            draft("Orbit two", words(2, space), url="https://a.example/2", hours_ago=2),
        ],
    )

    def story(aid: int) -> int:
        with services.warehouse.connect(read_only=True) as db:
            return int(db.scalar("SELECT coalesce(story_id, id) FROM articles WHERE id = ?", [aid]))

    assert story(t1) == story(t2)
    marking.mark_split(settings, services.warehouse, t2, by="t", via="cli")
    [t3] = store(services, [draft("Orbit three", words(3, space), url="https://a.example/3")])
    assert story(t1) != story(t2) and story(t3) in (story(t1), story(t2))
    h1, h1b = store(
        services,
        [
            draft("Harbour", words(4, harbour), url="https://b.example/1"),
            draft("Harbour too", words(6, harbour), url="https://b.example/3"),
        ],
    )
    assert story(h1) == story(h1b) != story(t1)
    marking.mark_merge(settings, services.warehouse, story(t1), story(h1), by="t", via="cli")
    # A daemon started afresh reads the marks too.
    again = Services(settings, embedder=fake_embedder)
    [h2] = store(again, [draft("Harbour again", words(5, harbour), url="https://b.example/2")])
    assert story(h2) == story(h1) == story(t1) != story(t2)
    rebuild_dedup(again)
    assert story(h2) == story(h1) == story(t1) != story(t2)
    assert np.isfinite(story(t3))
