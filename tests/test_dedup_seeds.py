"""Dedup and stories with the real model: the seed corpus and the same event told twice."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from pipeline.ingest import Services
from pipeline.ingest.batch import BatchStep
from pipeline.models import ArticleDraft
from pipeline.store import articles as article_store
from tests.dedup_invariant import assert_warehouse_duplicates_overlap
from tests.helpers import make_pipeline

REPORT_A = (
    "Washington imposed sanctions on Thursday on a Chinese satellite company accused of handing "
    "radar images of Ukrainian territory to the Russian mercenary outfit Wagner. The Treasury "
    "Department said the firm, Spacety, and its Luxembourg arm supplied the imagery so that "
    "Wagner fighters could plan assaults in eastern Ukraine. Beijing's foreign ministry called "
    "the measures illegal unilateral sanctions and promised to protect Chinese companies."
)
REPORT_B = (
    "The United States blacklisted Changsha Tianyi Space Science and Technology, known as "
    "Spacety, for selling synthetic aperture radar pictures of Ukraine to Wagner Group, US "
    "officials announced. According to the designation, the satellite images helped the "
    "Russian private military company prepare combat operations. China's government protested, "
    "saying it firmly opposes what it described as unlawful sanctions on its firms."
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedder):
    from pipeline.config.settings import load_settings
    from tests.conftest import REPO

    tmp = tmp_path_factory.mktemp("seeds")
    (tmp / "feeds.toml").write_text("")
    (tmp / "settings.toml").write_text(
        f'[warehouse]\npath = "{tmp / "w.duckdb"}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
        f'[seeds]\ndir = "{REPO / "config" / "seeds"}"\n'
        f'[topics]\nfile = "{REPO / "config" / "topics.toml"}"\n'
    )
    return make_pipeline(load_settings(tmp / "settings.toml", env={}), embedder)


@pytest.mark.model
def test_no_two_seeds_are_duplicates_and_stories_pair_up(seeded: Services):
    with seeded.warehouse.connect(read_only=True) as db:
        rows = {
            url.removeprefix("seed:")[:3]: (dup, story)
            for url, dup, story in db.rows(
                "SELECT url, duplicate_of, story_id FROM articles WHERE source = 'seed'"
            )
        }
    assert all(dup is None for dup, _ in rows.values())
    stories = {k: story for k, (_, story) in rows.items()}
    assert stories["000"] == stories["002"]
    assert stories["003"] == stories["004"]
    assert len({stories["000"], stories["001"], stories["003"]}) == 3
    assert_warehouse_duplicates_overlap(seeded.warehouse, seeded.settings.dedup)


@pytest.mark.model
def test_same_event_written_differently_is_same_story_not_duplicate(seeded: Services):
    from datetime import datetime

    now = datetime.now(UTC)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://example.org/{k}",
            title=f"Report {k}",
            text=text,
            text_source="page",
            fetched_at=now + timedelta(seconds=k),
            lang="en",
        )
        for k, text in enumerate((REPORT_A, REPORT_B))
    ]
    with seeded.warehouse.connect(read_only=True) as db:
        seeded.refresh(db)
    a, b = BatchStep(seeded).process(drafts, first_id=10_000)
    assert a.dedup.duplicate_of is None and b.dedup.duplicate_of is None
    assert b.dedup.story_id == a.dedup.story_id
    # Both join the seeds' Spacety story.
    with seeded.warehouse.connect(read_only=True) as db:
        spacety = db.scalar("SELECT story_id FROM articles WHERE url LIKE 'seed:000%'")
    assert a.dedup.story_id == spacety
    # A verbatim repost of one of them is a duplicate of it.
    repost = ArticleDraft(
        source="feed",
        url="http://mirror.example/x",
        title="Repost",
        text="Republished with permission.\n" + REPORT_B,
        text_source="page",
        fetched_at=now,
        lang="en",
    )
    [c] = BatchStep(seeded).process([repost], first_id=10_002)
    assert c.dedup.duplicate_of == b.id and c.dedup.story_id == a.dedup.story_id
    with seeded.warehouse.transaction() as db:
        article_store.insert_articles(db, [a, b, c])
    assert assert_warehouse_duplicates_overlap(seeded.warehouse, seeded.settings.dedup) == 1
