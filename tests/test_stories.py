"""The story decision on small constructed cases: hand-made vectors decide the meaning, the
texts' own words decide the word evidence (no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.config.settings import DedupSettings
from pipeline.dedup.stories import StoryRule, TermStats, link_rule, terms_of
from pipeline.models import (
    CopyEvidence,
    DedupDoc,
    JoinedStoryEvidence,
    NewStoryEvidence,
    story_evidence_from_json,
)
from tests.dedup_invariant import RecordingIndex, assert_index_duplicates_overlap

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
DIM = 16
E = np.eye(DIM, dtype=np.float32)

# Unrelated stored news: the background that tells common words from rare ones.
BACKGROUND = [
    "The city council approved the budget for schools and roads after a long debate on taxes.",
    "Heavy rain flooded the valley and farmers lost much of the harvest this season.",
    "The football club signed a young striker and the coach praised his speed in training.",
    "A new museum exhibition shows paintings from the last century to large crowds.",
    "Doctors warn about the flu season and urge older people to get vaccinated early.",
    "The central bank kept interest rates unchanged and said inflation is easing slowly.",
    "China and Russia deepened ties as officials discussed satellite cooperation and trade.",
    "Satellite companies in China expanded launches while Russia sought space partners.",
    "Officials in Washington weighed sanctions on firms helping Russia's war in Ukraine.",
    "Sanctions on Chinese satellite firms were discussed by officials in Washington again.",
]


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def between(a: np.ndarray, b: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine `cos` from unit vector a, in the plane of a and b."""
    return unit(cos * a + np.sqrt(1 - cos * cos) * b)


def doc(i: int, text: str, chunks: np.ndarray, *, when=NOW, title_vector=None) -> DedupDoc:
    chunks = np.atleast_2d(chunks).astype(np.float32)
    return DedupDoc(
        i, text, f"h{i}", "en", when, unit(chunks.sum(axis=0)), chunks, False, title_vector
    )


@pytest.fixture
def index() -> RecordingIndex:
    idx = RecordingIndex(DedupSettings())
    # Background articles far from everything the tests compare (their own axes).
    idx.decide([doc(100 + k, text, E[DIM - 1 - (k % 4)]) for k, text in enumerate(BACKGROUND)])
    return idx


SPACETY_A = (
    "Washington sanctioned Spacety, a Changsha satellite maker, for handing radar "
    "images to Wagner mercenaries; its Luxembourg arm was designated as well."
)
SPACETY_B = (
    "Spacety of Changsha lost access to American markets after Treasury said the firm "
    "sold radar images to Wagner; a Luxembourg subsidiary is also listed."
)
WARNING = (
    "Officials in Washington warned that China is helping Russia's war with satellite "
    "imagery and said sanctions on Chinese firms remain possible in the months ahead."
)


def test_link_rules():
    rule = StoryRule.from_settings(DedupSettings())
    assert link_rule(0.75, 0.0, 0.0, False, rule) == "meaning"
    assert link_rule(0.60, 0.0, 0.22, False, rule) == "meaning+words"
    assert link_rule(0.60, 0.0, 0.10, False, rule) is None
    assert link_rule(0.50, 0.0, 0.60, False, rule) is None  # words alone never join
    assert link_rule(0.30, 0.70, 0.0, True, rule) == "headline"
    assert link_rule(0.30, 0.70, 0.0, False, rule) is None  # headlines count for short texts


def test_rare_shared_words_weigh_more_than_the_subjects_common_words():
    stats = TermStats()
    for text in BACKGROUND + [SPACETY_A, SPACETY_B, WARNING]:
        stats.add(terms_of(text))
    same = stats.cosine(terms_of(SPACETY_A), terms_of(SPACETY_B))
    subject = stats.cosine(terms_of(SPACETY_A), terms_of(WARNING))
    assert same > 0.25 > subject
    assert {"spacety", "changsha", "wagner"} <= set(stats.shared_words(SPACETY_A, SPACETY_B))


def test_same_event_in_other_words_joins_on_meaning_and_rare_words(index):
    a = doc(1, SPACETY_A, E[0])
    b = doc(2, SPACETY_B, between(E[0], E[1], 0.62))  # below 0.72: meaning alone is not enough
    da, db = index.decide([a, b])
    assert db.duplicate_of is None and db.story_id == da.story_id == 1
    ev = db.story_evidence
    assert isinstance(ev, JoinedStoryEvidence)
    assert (
        ev.rule == "meaning+words"
        and ev.link.via == 1
        and ev.link.meaning == pytest.approx(0.62, abs=1e-3)
    )
    assert ev.shared_words is not None and "spacety" in ev.shared_words
    assert_index_duplicates_overlap(index)


def test_same_subject_different_event_stays_apart(index):
    a = doc(1, SPACETY_A, E[0])
    c = doc(3, WARNING, between(E[0], E[2], 0.62))  # as close in meaning as the same event
    _, dc = index.decide([a, c])
    assert dc.story_id == 3
    assert isinstance(dc.story_evidence, NewStoryEvidence)
    assert dc.story_evidence.nearest is not None and dc.story_evidence.nearest.via == 1


def test_far_in_time_is_another_story(index):
    a = doc(1, SPACETY_A, E[0])
    late = doc(2, SPACETY_B, E[0], when=NOW + timedelta(days=8))
    assert index.decide([a, late])[1].story_id == 2


def test_a_bridge_article_does_not_chain_two_events(index):
    a1, a2 = doc(1, "first report of event A " + SPACETY_A, E[0]), doc(2, SPACETY_B, E[0])
    a3 = doc(3, "third report of event A", between(E[0], E[1], 0.9))
    roundup = doc(4, "roundup of A and of B", np.stack([E[0], E[5]]))
    decisions = index.decide([a1, a2, a3, roundup])
    assert {d.story_id for d in decisions} == {1}
    # A report of event B matches only the roundup's second half.
    b1 = doc(5, "a report of event B alone", E[5])
    [d] = index.decide([b1])
    assert d.story_id == 5
    assert isinstance(d.story_evidence, NewStoryEvidence)
    assert 1 in dict(d.story_evidence.refused)


def test_members_beyond_the_story_window_neither_support_nor_refuse_a_new_report(index):
    # A story begun more than a window before a new report: its first members are too old to
    # give evidence, so the report is judged on the members within the window.
    first = doc(1, SPACETY_A, E[0])
    second = doc(2, SPACETY_B, E[0])
    follow_up = doc(
        3,
        "Treasury added two more Changsha firms to the Spacety designation on Friday.",
        E[0],
        when=NOW + timedelta(days=5),
    )
    assert [d.story_id for d in index.decide([first, second, follow_up])] == [1, 1, 1]
    latest = doc(
        4,
        "Spacety's Luxembourg arm appealed the designation before a European court.",
        E[0],
        when=NOW + timedelta(days=10),
    )
    [d] = index.decide([latest])
    assert d.story_id == 1
    assert isinstance(d.story_evidence, JoinedStoryEvidence)
    assert d.story_evidence.link.via == 3 and d.story_evidence.members_agreeing == 1


def test_a_report_of_an_event_a_roundup_chained_into_a_story_joins_its_first_report(index):
    # A roundup of the day's news, and a report of one of its items (bushfires) joined on the
    # roundup's passage about it; then reports of another item join the roundup's story.
    bushfires = between(E[2], E[4], 0.75)
    roundup = doc(1, "five things to know today", np.stack([E[0], bushfires]))
    first = doc(2, "first bushfire report", E[2])
    other_a = doc(3, "a report of the first item", E[0])
    other_b = doc(4, "officials confirmed the count later that day", between(E[0], E[1], 0.9))
    assert [d.story_id for d in index.decide([roundup, first, other_a, other_b])] == [1] * 4
    # A second bushfire report resembles the first one alone: the story's other members
    # resemble each other, not the first report, so their silence is no sign of a bridge.
    second = doc(5, "second bushfire report", between(E[2], -E[4], 0.8))
    [d] = index.decide([second])
    assert d.story_id == 1
    assert isinstance(d.story_evidence, JoinedStoryEvidence)
    assert d.story_evidence.link.via == 2 and d.story_evidence.members_agreeing == 1


def test_an_article_that_bridges_two_close_stories_merges_them_into_the_earlier_one(index):
    x1 = doc(1, "alpha dispatch", E[0])
    x2 = doc(2, "beta bulletin", between(E[0], E[1], 0.6))  # close, but not joined
    x3 = doc(3, "beta bulletin again", between(E[0], E[1], 0.6))
    d1, d2, d3 = index.decide([x1, x2, x3])
    assert (d1.story_id, d2.story_id, d3.story_id) == (1, 2, 2)
    bridge_vec = unit(E[0] + unit(between(E[0], E[1], 0.6)))
    [db] = index.decide([doc(4, "bridge", bridge_vec)])
    assert db.story_id == 1 and db.merged_stories == (2,)
    assert isinstance(db.story_evidence, JoinedStoryEvidence)
    assert [m.story for m in db.story_evidence.merged] == [2]
    assert {index.story_of(i) for i in (1, 2, 3, 4)} == {1}
    # The batch was not written: the merge is undone with it.
    index.remove([4])
    assert (index.story_of(2), index.story_of(3), index.story_of(1)) == (2, 2, 1)


def test_a_merge_later_in_a_batch_moves_earlier_articles_of_the_batch(index):
    x1 = doc(1, "alpha dispatch", E[0])
    x2 = doc(2, "beta bulletin", between(E[0], E[1], 0.6))
    bridge = doc(3, "bridge", unit(E[0] + unit(between(E[0], E[1], 0.6))))
    decisions = index.decide([x1, x2, bridge])
    assert [d.story_id for d in decisions] == [1, 1, 1]
    assert isinstance(decisions[1].story_evidence, NewStoryEvidence)  # decided at the time


def test_a_roundup_of_two_unrelated_stories_does_not_merge_them(index):
    a, b = doc(1, "event A", E[0]), doc(2, "event B", E[5])
    roundup = doc(3, "roundup", np.stack([E[0], E[5]]))
    da, db, dr = index.decide([a, b, roundup])
    assert (da.story_id, db.story_id) == (1, 2) and dr.merged_stories == ()
    assert dr.story_id in (1, 2) and index.story_of(2) == 2


def test_a_short_text_joins_by_its_headline_either_way(index):
    full = doc(1, " ".join(["Two people were hurt when their snowmobile hit a tree."] * 20), E[0])
    paywall = doc(
        2,
        "Two hurt when snowmobile crashed into tree. Subscribe to read more.",
        E[7],
        title_vector=between(E[0], E[1], 0.7),
    )
    _, dp = index.decide([full, paywall])
    assert dp.story_id == 1 and dp.story_evidence is not None
    assert dp.story_evidence.rule == "headline"
    # The other way round: the stored short text's headline matches the later full report.
    again = RecordingIndex(DedupSettings())
    p = replace(paywall, id=11)
    f = replace(full, id=12)
    _, df = again.decide([p, f])
    assert df.story_id == 11 and df.story_evidence is not None
    assert df.story_evidence.rule == "headline"


def test_copies_follow_their_root_and_do_not_count_as_support(index):
    a = doc(1, SPACETY_A, E[0])
    copy = replace(doc(2, SPACETY_A, E[0]), content_hash="h1")
    da, dc = index.decide([a, copy])
    assert dc.duplicate_of == 1 and dc.story_id == 1
    assert dc.story_evidence == CopyEvidence(1, 1, "hash", 1.0)
    assert index.stories.members[1] == [1] and index.stories.copies[1] == [2]
    assert_index_duplicates_overlap(index)


def test_evidence_is_stored_with_the_keys_analysts_read_and_reads_back(index):
    a = doc(1, SPACETY_A, E[0])
    b = doc(2, SPACETY_B, between(E[0], E[1], 0.62))
    c = doc(3, WARNING, between(E[0], E[2], 0.62))
    copy = replace(doc(4, SPACETY_A, E[0]), content_hash="h1")
    decisions = index.decide([a, b, c, copy])
    joined = decisions[1].story_evidence
    assert joined is not None
    stored = joined.to_json()
    assert list(stored) == [
        "rule",
        "story",
        "via",
        "meaning",
        "words",
        "headline",  # one of the two texts is short
        "members_agreeing",
        "members",
        "shared_words",
    ]
    assert stored["rule"] == "meaning+words" and stored["story"] == stored["via"] == 1
    assert decisions[3].story_evidence is not None
    assert decisions[3].story_evidence.to_json() == {
        "rule": "copy",
        "of": 1,
        "story": 1,
        "kind": "hash",
        "similarity": 1.0,
    }
    for d in decisions:
        assert d.story_evidence is not None
        as_stored = json.loads(json.dumps(d.story_evidence.to_json()))
        assert story_evidence_from_json(as_stored) == d.story_evidence
        assert story_evidence_from_json(as_stored).to_json() == as_stored  # type: ignore[union-attr]
    # A row written before stories kept evidence, and one with keys older rows lack.
    assert story_evidence_from_json(None) is None and story_evidence_from_json({}) is None
    old = story_evidence_from_json({"rule": "meaning", "via": 5, "story": 5, "meaning": 0.8})
    assert isinstance(old, JoinedStoryEvidence) and old.link.words == 0.0 and not old.merged
