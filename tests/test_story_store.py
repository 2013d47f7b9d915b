"""Stories in the warehouse: merges keep ids stable (articles, views, story_merges), explain shows
the stored evidence, and a rebuild records evidence for every article."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.ingest.batch import BatchStep
from pipeline.models import (
    ArticleDraft,
    DedupDecision,
    NewStoryEvidence,
    story_evidence_from_json,
)
from pipeline.store import articles as article_store
from pipeline.store import reading
from pipeline.store.db import Warehouse
from tests.dedup_invariant import assert_warehouse_duplicates_overlap
from tests.helpers import make_pipeline, put_article

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
TEXTS = [
    "Parliament passed the river protection law after farmers and fishermen argued for months.",
    "The orchestra opened its winter season with a symphony by a young composer from Lyon.",
    "Engineers finished the mountain tunnel two years late and far over the planned budget.",
    "A new vaccine trial for malaria began in three villages near the northern border.",
]


def _store(services, texts, first_id):
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://x.org/{first_id + k}",
            title=f"t{k}",
            text=t,
            text_source="page",
            fetched_at=NOW,
            published_at=NOW,
            lang="en",
        )
        for k, t in enumerate(texts)
    ]
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    stored = BatchStep(services).process(drafts, first_id=first_id)
    return stored


def test_a_merge_keeps_the_earlier_story_id_everywhere_and_explain_shows_it(
    make_settings, fake_embedder
):
    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    a, b, c = _store(services, TEXTS[:3], 100)
    assert len({a.dedup.story_id, b.dedup.story_id, c.dedup.story_id}) == 3
    assert all(isinstance(x.dedup.story_evidence, NewStoryEvidence) for x in (a, b, c))
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, [a, b, c])
    [d] = _store(services, TEXTS[3:], 103)
    evidence = {
        "rule": "meaning",
        "via": 100,
        "story": 100,
        "meaning": 0.8,
        "words": 0.1,
        "members_agreeing": 1,
        "members": 1,
        "merged": [{"story": 101, "closeness": 0.6, "via": 101, "meaning": 0.79, "words": 0.05}],
    }
    stored = story_evidence_from_json(evidence)  # as an older row without the links' rules
    d = replace(d, dedup=DedupDecision(None, None, None, 100, stored, (101,)))
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, [d])
    with services.warehouse.connect(read_only=True) as db:
        stories = dict(db.rows("SELECT id, story_id FROM articles WHERE source = 'feed'"))
        merges = db.dicts("SELECT * FROM story_merges")
        view = dict(db.rows("SELECT story_id, originals FROM stories WHERE NOT has_seed"))
        weekly = db.rows("SELECT stories FROM weekly_topic_counts")
    assert stories == {100: 100, 101: 100, 102: 102, 103: 100}
    assert [
        (m["story_id"], m["merged_into"], m["current_id"], m["article_id"]) for m in merges
    ] == [(101, 100, 100, 103)]
    assert json.loads(merges[0]["evidence"])["closeness"] == 0.6
    assert view == {100: 3, 102: 1}
    assert all(n <= 2 for (n,) in weekly)

    result = CliRunner().invoke(cli, ["--config", settings.source, "explain", "101"])
    assert result.exit_code == 0, result.output
    assert "story 100: 3 originals, 3 articles; started it" in result.output
    assert "story 101 was merged into 100 by article 103" in result.output
    result = CliRunner().invoke(cli, ["--config", settings.source, "explain", "103"])
    assert "joined by rule 'meaning' with article 100" in result.output
    assert "merged story 101 into this one" in result.output


def test_rebuild_records_evidence_for_every_article(make_settings, fake_embedder):
    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    stored = _store(services, TEXTS + [TEXTS[0] + " Republished with permission."], 200)
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)
        db.execute("UPDATE articles SET story_evidence = NULL")
        db.execute("UPDATE embeddings SET title_vector = NULL")
    result = CliRunner().invoke(cli, ["--config", settings.source, "dedup", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "0 decisions changed" in result.output
    with services.warehouse.connect(read_only=True) as db:
        rules = dict(
            db.rows(
                "SELECT id, json_extract_string(story_evidence, '$.rule') "
                "FROM articles WHERE source = 'feed'"
            )
        )
        untitled = db.scalar("SELECT count(*) FROM embeddings WHERE title_vector IS NULL")
    assert rules[204] == "copy" and all(rules[i] for i in range(200, 204))
    assert untitled == 0
    assert assert_warehouse_duplicates_overlap(services.warehouse, settings.dedup) == 1


def test_a_story_page_reads_members_stored_before_stories_were_kept_and_no_others(
    make_settings,
):
    """A report stored with no story id is its own story; one with a story id is that story's.
    The reading room's story queries find both kinds, and only them."""
    settings = make_settings()
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    for aid in (1, 2, 3, 4, 5000):
        put_article(wh, aid, f"text {aid}", f"h{aid}")
    with wh.transaction() as db:
        # 1 kept no story id (stored before stories): 2 and 5000 joined it later; 3 is a story of
        # its own, 4 again has no story id.
        db.execute("UPDATE articles SET story_id = 1 WHERE id IN (2, 5000)")
        db.execute("UPDATE articles SET story_id = 3 WHERE id = 3")
        db.execute(
            "INSERT INTO article_topics (article_id, topic, score, evidence, matched_terms, "
            "passage) VALUES (1, 'sanctions', 0.6, '{}', [], ''), "
            "(5000, 'espionage', 0.7, '{}', [], ''), (4, 'sanctions', 0.9, '{}', [], '')"
        )
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, evidence, "
            "aliases) VALUES (2, 'Spacety', 2, 0, '', []), (3, 'Spacety', 5, 0, '', [])"
        )
    with wh.connect(read_only=True) as db:
        assert [m["id"] for m in reading.story_members(db, 1)] == [1, 2, 5000]
        assert [m["id"] for m in reading.story_members(db, 4)] == [4]
        assert (reading.current_story(db, 1), reading.current_story(db, 2)) == (1, None)
        assert reading.story_topics(db, [1, 3, 4]) == {
            1: {"espionage": 0.7, "sanctions": 0.6},
            4: {"sanctions": 0.9},
        }
        assert reading.story_entities(db, [1, 3]) == {1: {"Spacety": 2}, 3: {"Spacety": 5}}
        assert [t["topic"] for t in reading.story_tag_evidence(db, 1)] == ["espionage", "sanctions"]
