"""Stories with the real model on a slice of the human-judged story pairs (../shared): reports
of one event by different outlets share a story, unrelated reports never do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.batch import BatchStep
from pipeline.models import ArticleDraft, JoinedStoryEvidence
from pipeline.testkit.storypairs import PAIRS_CSV, load_pairs, pair_texts, text_key, title_of
from tests.conftest import require_shared
from tests.helpers import make_pipeline

DAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.mark.model
def test_same_story_pairs_join_and_unrelated_pairs_stay_apart(make_settings, embedder):
    require_shared(PAIRS_CSV)
    english = load_pairs(langs={"en"})
    same = [p for p in english if p.label == "same"][:16]
    unrelated = [p for p in english if p.label == "unrelated"][:16]
    pairs = same + unrelated
    texts = pair_texts(pairs)
    services = make_pipeline(make_settings(), embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://pairs.example/{text_key(t)}",
            title=title_of(t),
            text=t,
            text_source="page",
            fetched_at=DAY,
            published_at=DAY + timedelta(seconds=k),
            lang=lang,
        )
        for k, (t, lang) in enumerate(texts)
    ]
    stored = BatchStep(services).process(drafts, first_id=1000)
    story = {text_key(t): a.dedup.story_id for (t, _), a in zip(texts, stored, strict=True)}

    def joined(group):
        return sum(story[text_key(p.text1)] == story[text_key(p.text2)] for p in group)

    assert joined(unrelated) == 0
    assert joined(same) >= 13, f"{joined(same)} of {len(same)} same-story pairs joined"
    # Every article that joined a story says why, and names an article of that story.
    by_id = {a.id: a.dedup.story_id for a in stored}
    for a in stored:
        ev = a.dedup.story_evidence
        assert ev is not None
        assert ev.rule in {"meaning", "meaning+words", "headline", "copy", "new story"}
        if isinstance(ev, JoinedStoryEvidence) and ev.link.via in by_id:
            assert by_id[ev.link.via] == a.dedup.story_id
