"""Deduplication levels and stories on hand-written texts (fake embedder: text overlap decides)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.config.settings import DedupSettings
from pipeline.dedup.index import is_english_like
from pipeline.dedup.overlap import check_overlaps, overlap, shingle_hashes
from pipeline.ingest.batch import BatchStep
from pipeline.models import DedupDecision, DedupDoc, StoredDuplicate
from pipeline.textnorm import content_hash
from tests.dedup_invariant import (
    RecordingIndex,
    assert_index_duplicates_overlap,
    assert_warehouse_duplicates_overlap,
    index_violations,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)

SPACETY = (
    "The US Treasury sanctioned the Chinese satellite company Spacety on Thursday for "
    "supplying radar satellite imagery of Ukraine to the Wagner Group. Officials said the "
    "images were used to plan combat operations near Bakhmut. Spacety's Luxembourg "
    "subsidiary was also designated. The firm did not respond to a request for comment. "
    "Analysts said the action signals a tougher line on Chinese support for Russia's war, "
    "and that more companies supplying space data could follow in the coming months. "
    "The designation freezes any assets the company holds under US jurisdiction and bars "
    "Americans from dealing with it."
)
FLOODS = (
    "Heavy rain flooded large parts of the river valley overnight, forcing hundreds of "
    "residents to leave their homes. Emergency crews used boats to reach villages cut off "
    "by the water, and the regional governor declared a state of emergency. Forecasters "
    "expect more rain later in the week, and schools in the area will stay closed until "
    "the water recedes. Farmers said the floods destroyed much of this year's harvest."
)


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i % 97}x{i // 97}" for i in range(n))


def make(i, text, embedder, *, lang="en", seed=False, when=NOW):
    [e] = embedder.embed([text])
    return DedupDoc(
        id=i,
        text=text,
        content_hash=content_hash(text),
        lang=lang,
        published_at=when,
        vector=e.vector,
        chunk_vectors=np.stack([c.vector for c in e.chunks]),
        is_seed=seed,
    )


@pytest.fixture
def index():
    return RecordingIndex()


def test_same_text_is_a_hash_duplicate(index, fake_embedder):
    [a, b] = index.decide(
        [
            make(1, SPACETY, fake_embedder),
            make(2, SPACETY.upper().replace(".", " ."), fake_embedder),
        ]
    )
    assert a.duplicate_of is None and a.story_id == 1
    assert (b.duplicate_of, b.kind, b.similarity, b.story_id) == (1, "hash", 1.0, 1)
    assert_index_duplicates_overlap(index)


def test_copy_in_different_clothing_is_a_near_duplicate(index, fake_embedder):
    index.decide([make(1, SPACETY, fake_embedder)])
    copy = (
        "Home | World | Business\nEditor's note: republished with permission.\n"
        + SPACETY
        + "\nSign up for our newsletter. © 2026 Example Media."
    )
    [d] = index.decide([make(2, copy, fake_embedder)])
    assert d.duplicate_of == 1 and d.kind in ("near", "contains", "contained")
    assert_index_duplicates_overlap(index)


def test_truncated_copy_is_contained(index, fake_embedder):
    index.decide([make(1, SPACETY, fake_embedder)])
    [d] = index.decide([make(2, SPACETY[: len(SPACETY) * 6 // 10], fake_embedder)])
    assert d.duplicate_of == 1 and d.similarity >= 0.6
    assert_index_duplicates_overlap(index)


def test_article_with_another_appended_contains_the_original(index, fake_embedder):
    index.decide([make(1, SPACETY, fake_embedder)])
    [d] = index.decide([make(2, SPACETY + "\n\n" + FLOODS + " " + words(150, "w"), fake_embedder)])
    assert d.duplicate_of == 1 and d.kind == "contains"
    assert_index_duplicates_overlap(index)


def test_duplicate_points_at_the_root_original(index, fake_embedder):
    copy = "Editor's note: shared by a partner.\n" + SPACETY
    decisions = index.decide(
        [
            make(1, SPACETY, fake_embedder, seed=True),
            make(2, copy, fake_embedder),
            make(3, copy + " Updated at noon.", fake_embedder),
        ]
    )
    assert [d.duplicate_of for d in decisions] == [None, 1, 1]
    assert_index_duplicates_overlap(index)


def test_unrelated_articles_are_not_merged(index, fake_embedder):
    decisions = index.decide([make(1, SPACETY, fake_embedder), make(2, FLOODS, fake_embedder)])
    assert decisions[1].duplicate_of is None and decisions[1].story_id == 2
    assert_index_duplicates_overlap(index)


def test_shared_part_beyond_the_first_window_counts(index, fake_embedder):
    long_original = words(400, "intro") + " " + SPACETY + " " + words(300, "tail")
    index.decide([make(1, long_original, fake_embedder)])
    # Only the part after the 400th word is reused, inside another long article.
    copy = words(350, "other") + " " + SPACETY + " " + words(300, "tail")
    [d] = index.decide([make(2, copy, fake_embedder)])
    assert d.duplicate_of == 1
    assert_index_duplicates_overlap(index)


def test_copy_differing_only_after_its_300th_word(index, fake_embedder):
    head, tail = words(300, "head"), words(700, "tail")
    index.decide([make(1, head + " " + tail, fake_embedder)])
    # The same article with its ending rewritten after word 300: still a copy.
    edited = head + " " + " ".join(tail.split()[:600]) + " " + words(100, "edit")
    [same] = index.decide([make(2, edited, fake_embedder)])
    assert same.duplicate_of == 1
    # The same first 300 words, then a different 700-word article: not a copy, though a model
    # that reads only the first 256 word pieces sees the two as identical.
    [other] = index.decide([make(3, head + " " + words(700, "new"), fake_embedder)])
    assert other.duplicate_of is None
    assert_index_duplicates_overlap(index)


def test_overlap_measures():
    a = shingle_hashes(SPACETY)
    b = shingle_hashes(SPACETY[: len(SPACETY) // 2])
    o = overlap(b, a)
    assert o.contained > 0.9 and 0.3 < o.jaccard < 0.6 and o.contains < 0.6
    assert overlap(shingle_hashes(FLOODS), a).jaccard == 0


def test_the_same_text_is_decided_alike_in_every_process():
    # The MinHash sketches, and so which stored texts are compared at all, come from the shingle
    # hashes: two processes (or two runs) must agree on them whatever Python's string salt is.
    code = (
        "import sys; from pipeline.dedup.overlap import shingle_hashes; "
        "print(shingle_hashes(sys.stdin.read()).tolist())"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=SPACETY,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert seen == {f"{shingle_hashes(SPACETY).tolist()}\n"}
    # Case and punctuation aside; a text shorter than a shingle is one shingle of its words.
    short = shingle_hashes("sanctions on spacety")
    assert short.size == 1 and (shingle_hashes("Sanctions, on Spacety!") == short).all()


def test_remove_forgets(index, fake_embedder):
    index.decide([make(1, SPACETY, fake_embedder)])
    index.remove([1])
    [d] = index.decide([make(2, SPACETY, fake_embedder)])
    assert d.duplicate_of is None and len(index) == 1
    assert_index_duplicates_overlap(index)


def test_story_by_vectors_within_window():
    index = RecordingIndex(DedupSettings(story_similarity=0.8, story_window_days=3))
    v = np.eye(8, dtype=np.float32)
    near = (v[0] * 0.9 + v[1] * 0.436).astype(np.float32)

    def doc(i, vec, when):
        return DedupDoc(
            i, f"text {i} " + words(30, f"t{i}"), f"h{i}", "en", when, vec, vec[None, :], False
        )

    [a, b, c, d] = index.decide(
        [
            doc(1, v[0], NOW),
            doc(2, near, NOW + timedelta(days=1)),
            doc(3, v[2], NOW),
            doc(4, near, NOW + timedelta(days=10)),
        ]
    )
    assert (a.story_id, b.story_id, c.story_id) == (1, 1, 3)
    assert d.story_id == 4  # outside the window: a story of its own
    assert all(x.duplicate_of is None for x in (a, b, c, d))
    assert_index_duplicates_overlap(index)


def test_vectors_are_compared_only_in_english():
    assert is_english_like("en", "x") and is_english_like(None, "Plain English text here.")
    assert not is_english_like("ru", "Texte")
    assert not is_english_like(None, "Москва заявила, что санкции не повлияют на экономику.")
    index = RecordingIndex(DedupSettings(story_similarity=0.5))
    v = np.ones((1, 4), dtype=np.float32) / 2
    ru1 = DedupDoc(1, "Москва заявила " + words(30, "a"), "h1", "ru", NOW, v[0], v, False)
    ru2 = DedupDoc(2, "Пекин ответил " + words(30, "b"), "h2", "ru", NOW, v[0], v, False)
    [_, second] = index.decide([ru1, ru2])
    assert second.story_id == 2 and second.duplicate_of is None
    assert_index_duplicates_overlap(index)


def test_index_rebuilds_from_stored_decisions(fake_embedder):
    index = RecordingIndex()
    original = make(7, SPACETY, fake_embedder)
    index.add(original, DedupDecision(None, None, None, 7))
    assert index.max_id == 7
    [d] = index.decide([make(8, "Note: " + SPACETY, fake_embedder)])
    assert d.duplicate_of == 7
    assert_index_duplicates_overlap(index)


def test_rebuild_applies_new_thresholds(make_settings, fake_embedder):
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.models import ArticleDraft
    from tests.helpers import make_pipeline

    # Every article embedded (by the fake model), so the CLI's rebuild never needs the real one.
    settings = make_settings("[dedup]\nembed_copies = true\n")
    services = make_pipeline(settings, fake_embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    half = (
        SPACETY[: len(SPACETY) // 2]
        + " A closing line written for this copy alone, unlike the rest."
    )
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://x.org/{i}",
            title=f"t{i}",
            text=t,
            text_source="page",
            fetched_at=NOW,
            lang="en",
        )
        for i, t in enumerate((SPACETY, half))
    ]
    stored = BatchStep(services).process(drafts, first_id=100)
    from pipeline.store import articles as article_store

    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)
    assert stored[1].dedup.duplicate_of == 100
    assert assert_warehouse_duplicates_overlap(services.warehouse, settings.dedup) == 1
    strict = make_settings("[dedup]\ncontainment_threshold = 0.99\njaccard_threshold = 0.9\n")
    result = CliRunner().invoke(cli, ["--config", strict.source, "dedup", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "1 decisions changed" in result.output
    with services.warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT duplicate_of FROM articles WHERE id = 101") is None
    assert assert_warehouse_duplicates_overlap(services.warehouse, strict.dedup) == 0


# -- a duplicate's duplicate_of overlaps it -------------------------------------------------------

ROUNDUP = SPACETY + "\n\n" + FLOODS


def test_copies_of_a_roundups_stories_point_at_their_own_originals(index, fake_embedder):
    [a, b, r] = index.decide(
        [
            make(1, SPACETY, fake_embedder),
            make(2, FLOODS, fake_embedder),
            make(3, ROUNDUP, fake_embedder),
        ]
    )
    assert (a.duplicate_of, b.duplicate_of) == (None, None)
    assert (r.duplicate_of, r.kind) == (1, "contains")
    [copy_b, copy_a] = index.decide(
        [
            make(4, "Republished with permission.\n" + FLOODS, fake_embedder),
            make(5, "Editor's note: shared by a partner.\n" + SPACETY, fake_embedder),
        ]
    )
    assert copy_b.duplicate_of == 2 and copy_b.story_id == b.story_id
    assert copy_a.duplicate_of == 1 and copy_a.story_id == a.story_id
    assert_index_duplicates_overlap(index)


def test_copy_of_a_story_known_only_from_a_roundup_is_not_filed_under_the_roundups_root(
    index, fake_embedder
):
    # Story B was never stored on its own: the roundup carrying it is a copy of story A.
    [_, r] = index.decide([make(1, SPACETY, fake_embedder), make(2, ROUNDUP, fake_embedder)])
    assert (r.duplicate_of, r.kind) == (1, "contains")
    [copy_b] = index.decide([make(3, "Republished with permission.\n" + FLOODS, fake_embedder)])
    assert copy_b.duplicate_of is None  # it overlaps only the roundup, which is not a root
    # Now B has an original of its own, and the next copy of B points at it.
    [again_b, plain_b, copy_a] = index.decide(
        [
            make(4, FLOODS + " Updated at noon with the latest figures.", fake_embedder),
            make(5, FLOODS, fake_embedder),
            make(6, "Editor's note: shared by a partner.\n" + SPACETY, fake_embedder),
        ]
    )
    assert again_b.duplicate_of == 3 and plain_b.duplicate_of == 3
    assert copy_a.duplicate_of == 1
    assert_index_duplicates_overlap(index)


def test_hash_copy_of_a_duplicate_is_described_by_its_overlap_with_the_root(index, fake_embedder):
    index.decide([make(1, SPACETY, fake_embedder), make(2, ROUNDUP, fake_embedder)])
    # The roundup again, word for word: its root is story A, which it contains.
    [d] = index.decide([make(3, ROUNDUP.upper(), fake_embedder)])
    assert (d.duplicate_of, d.kind, d.similarity) == (1, "contains", 1.0)
    assert_index_duplicates_overlap(index)


def test_hash_copy_of_a_duplicate_whose_root_it_does_not_overlap_is_an_original(
    index, fake_embedder
):
    # A decision stored by an earlier version: B recorded as a copy of the unrelated A.
    index.add(make(1, SPACETY, fake_embedder), DedupDecision(None, None, None, 1))
    index.add(make(2, FLOODS, fake_embedder), DedupDecision(1, 1.0, "contained", 1))
    assert [v.id for v in index_violations(index)] == [2]
    [d] = index.decide([make(3, FLOODS, fake_embedder)])
    assert d.duplicate_of is None
    assert [v.id for v in index_violations(index)] == [2]  # the new decision adds none


def test_roots_evicted_from_memory_are_confirmed_through_the_text_loader(fake_embedder):
    stored = {1: SPACETY, 2: ROUNDUP}
    loaded: list[int] = []

    def load(ids):
        loaded.extend(ids)
        return {i: stored[i] for i in ids if i in stored}

    index = RecordingIndex(text_loader=load, cache_size=1)
    index.decide([make(1, SPACETY, fake_embedder), make(2, ROUNDUP, fake_embedder)])
    [copy_a, copy_b] = index.decide(
        [
            make(3, "Editor's note: shared by a partner.\n" + SPACETY, fake_embedder),
            make(4, "Republished with permission.\n" + FLOODS, fake_embedder),
        ]
    )
    assert copy_a.duplicate_of == 1 and copy_b.duplicate_of is None
    assert 1 in loaded
    assert_index_duplicates_overlap(index)


def test_check_overlaps_reports_duplicates_that_do_not_overlap():
    s = DedupSettings()
    result = check_overlaps(
        [
            StoredDuplicate(10, "Note: " + SPACETY, "near", 1, SPACETY),
            StoredDuplicate(11, FLOODS, "contained", 1, SPACETY),
            StoredDuplicate(12, FLOODS, "hash", 99, None),
            StoredDuplicate(13, "* * *", "hash", 3, "***"),  # no words, the same normalised text
        ],
        s,
    )
    assert result.checked == 4
    assert [(v.id, v.duplicate_of, v.kind) for v in result.violations] == [
        (11, 1, "contained"),
        (12, 99, "hash"),
    ]
    assert result.violations[0].overlap.jaccard == 0 and result.violations[1].overlap is None
    # A stricter threshold turns a copy cut short into a violation until decisions are rebuilt.
    cut = StoredDuplicate(14, SPACETY[: len(SPACETY) * 6 // 10], "contained", 1, SPACETY)
    assert check_overlaps([cut], s).violations == []
    strict = DedupSettings(containment_threshold=0.99, jaccard_threshold=0.9)
    assert [v.id for v in check_overlaps([cut], strict).violations] == [14]


def _store_a_duplicate(make_settings, fake_embedder):
    from pipeline.models import ArticleDraft
    from pipeline.store import articles as article_store
    from tests.helpers import make_pipeline

    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://x.org/{i}",
            title=f"t{i}",
            text=t,
            text_source="page",
            fetched_at=NOW,
            lang="en",
        )
        for i, t in enumerate((SPACETY, FLOODS, "Editor's note: shared.\n" + SPACETY))
    ]
    stored = BatchStep(services).process(drafts, first_id=100)
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)
    assert [a.dedup.duplicate_of for a in stored] == [None, None, 100]
    return settings, services


def test_dedup_verify_passes_on_a_clean_warehouse_and_lists_a_corrupted_row(
    make_settings, fake_embedder
):
    from click.testing import CliRunner

    from pipeline.cli import cli

    settings, services = _store_a_duplicate(make_settings, fake_embedder)
    result = CliRunner().invoke(cli, ["--config", settings.source, "dedup", "--verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 duplicates checked, all overlap their originals"

    with services.warehouse.transaction() as db:
        db.execute("UPDATE articles SET duplicate_of = 101 WHERE id = 102")
    result = CliRunner().invoke(cli, ["--config", settings.source, "dedup", "--verify"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "article 102: duplicate_of 101, kind contains: "
        "jaccard 0.000, contained 0.000, contains 0.000"
    ]
    assert "1 of 1 duplicates do not overlap" in result.stderr


@pytest.mark.parametrize("flags", [[], ["--rebuild", "--verify"]])
def test_dedup_needs_exactly_one_of_rebuild_and_verify(make_settings, flags):
    from click.testing import CliRunner

    from pipeline.cli import cli

    settings = make_settings()
    result = CliRunner().invoke(cli, ["--config", settings.source, "dedup", *flags])
    assert result.exit_code == 2
    assert "give one of --rebuild or --verify" in result.output
