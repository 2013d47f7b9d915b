"""Copies found by their text are decided before embedding and cost no model time."""

from __future__ import annotations

import numpy as np

from pipeline.dedup.index import DedupIndex
from pipeline.ingest import Services
from pipeline.ingest.batch import BatchStep
from pipeline.ingest.rebuild import rebuild_dedup
from pipeline.ingest.upkeep import retag
from pipeline.models import ArticleDraft, DedupDecision, DedupDoc
from pipeline.store import articles as article_store
from pipeline.testkit.fakes import FakeEmbedder
from pipeline.textnorm import content_hash
from tests.dedup_invariant import assert_warehouse_duplicates_overlap
from tests.helpers import make_pipeline
from tests.test_dedup import FLOODS, NOW, SPACETY


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts, progress=None):
        self.texts += list(texts)
        return super().embed(texts, progress)


def draft(k: int, text: str, title: str = "") -> ArticleDraft:
    return ArticleDraft(
        source="feed",
        url=f"http://outlet{k}.example/a",
        title=title or f"t{k}",
        text=text,
        text_source="page",
        fetched_at=NOW,
        lang="en",
    )


def ingest(services, drafts, first_id):
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    stored = BatchStep(services).process(drafts, first_id=first_id)
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)
    return stored


def rows(services, sql, params=None):
    with services.warehouse.connect(read_only=True) as db:
        return db.rows(sql, params)


def test_copies_of_stored_and_of_batch_articles_are_not_embedded(make_settings):
    embedder = CountingEmbedder()
    services = make_pipeline(make_settings(), embedder)
    [original] = ingest(services, [draft(1, SPACETY, "Treasury sanctions Spacety")], 100)
    embedder.texts.clear()
    wire = "Republished from the wire.\n\n" + SPACETY
    stored = ingest(
        services,
        [
            draft(2, SPACETY),
            draft(3, wire),
            draft(4, FLOODS),
            draft(5, FLOODS + " Updated at noon."),
        ],
        200,
    )
    # Only the flood report was new: the others copy a stored article or one of this batch.
    assert embedder.texts == [FLOODS]
    assert [a.dedup.duplicate_of for a in stored] == [100, 100, None, 202]
    assert [a.dedup.kind for a in stored[:2]] == ["hash", "contains"]
    assert stored[3].dedup.story_id == stored[2].dedup.story_id
    # A copy's embeddings row holds its original's vector and no chunks of its own.
    got = dict(
        (
            (a, (c, m))
            for a, c, m in rows(
                services, "SELECT article_id, chunks, model FROM embeddings WHERE article_id >= 100"
            )
        )
    )
    assert got[200][0] == got[201][0] == got[203][0] == 0 and got[202][0] > 0
    assert rows(
        services, "SELECT count(*) FROM chunk_embeddings WHERE article_id IN (200, 201, 203)"
    ) == [(0,)]
    same = rows(
        services,
        "SELECT e.vector = o.vector FROM embeddings e, embeddings o "
        "WHERE e.article_id = 201 AND o.article_id = 100",
    )
    assert same == [(True,)]

    # Topics, relevance and the on-topic flag are the original's, and say so.
    def tags(article_id):
        return {
            t: s
            for t, s in rows(
                services,
                "SELECT topic, score FROM article_topics WHERE article_id = ?",
                [article_id],
            )
        }

    assert tags(100), "the Spacety report is on a watched topic"
    assert tags(200) == tags(201) == tags(100)
    assert all(t.evidence["copy_of"] == 100 for t in stored[1].tags.topics)
    assert stored[1].tags.relevance == original.tags.relevance
    assert_warehouse_duplicates_overlap(services.warehouse, services.settings.dedup)


def test_embed_copies_setting_embeds_every_article(make_settings):
    embedder = CountingEmbedder()
    services = make_pipeline(make_settings("[dedup]\nembed_copies = true\n"), embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)  # the tagger embeds its topic descriptions once
    embedder.texts.clear()
    stored = ingest(services, [draft(1, SPACETY), draft(2, SPACETY)], 100)
    assert embedder.texts == [SPACETY, SPACETY]
    assert stored[1].dedup.duplicate_of == 100 and stored[1].embedding.chunks


def test_a_forecast_copy_that_is_not_one_is_embedded_then(make_settings, fake_embedder):
    index = DedupIndex(make_settings().dedup)
    bare = DedupDoc(
        id=1,
        text=FLOODS,
        content_hash=content_hash(FLOODS),
        lang="en",
        published_at=NOW,
        vector=np.zeros(0, np.float32),
        chunk_vectors=np.zeros((0, 0), np.float32),
        is_seed=False,
    )
    assert index.likely_copies([bare]) == set()
    completed = []

    def complete(doc: DedupDoc) -> DedupDoc:
        completed.append(doc.id)
        [e] = fake_embedder.embed([doc.text])
        return DedupDoc(
            **{
                **doc.__dict__,
                "vector": e.vector,
                "chunk_vectors": np.stack([c.vector for c in e.chunks]),
            }
        )

    [decision] = index.decide([bare], complete)
    assert completed == [1]
    assert decision == DedupDecision(None, None, None, 1, decision.story_evidence)
    assert index.vectors.size > 0  # its vectors are indexed for later stories


def test_retag_and_rebuild_keep_copies_consistent(make_settings):
    embedder = CountingEmbedder()
    settings = make_settings()
    services = make_pipeline(settings, embedder)
    half = (
        SPACETY[: len(SPACETY) // 2]
        + " A closing line written for this copy alone, unlike the rest."
    )
    ingest(services, [draft(1, SPACETY), draft(2, half)], 100)
    assert rows(services, "SELECT chunks FROM embeddings WHERE article_id = 101") == [(0,)]
    retag(services)
    topics = rows(
        services,
        "SELECT article_id, topic, score FROM article_topics "
        "WHERE article_id IN (100, 101) ORDER BY topic, article_id",
    )
    assert topics and [(t, s) for a, t, s in topics if a == 100] == [
        (t, s) for a, t, s in topics if a == 101
    ]
    # Stricter thresholds: the half copy is an original now and gets vectors of its own.
    embedder.texts.clear()
    strict = make_settings("[dedup]\ncontainment_threshold = 0.99\njaccard_threshold = 0.9\n")
    stats = rebuild_dedup(Services(strict, embedder=embedder))
    assert stats["changed"] == 1
    assert embedder.texts[0] == half and embedder.texts.count(half) == 1  # then the topics
    [(chunks, dup)] = rows(
        services,
        "SELECT e.chunks, a.duplicate_of FROM embeddings e "
        "JOIN articles a ON a.id = e.article_id WHERE a.id = 101",
    )
    assert dup is None and chunks > 0
    assert rows(services, "SELECT count(*) > 0 FROM chunk_embeddings WHERE article_id = 101") == [
        (True,)
    ]
    evidence = rows(services, "SELECT evidence FROM article_topics WHERE article_id = 101")
    assert all("copy_of" not in e for (e,) in evidence)


def test_retag_reads_a_block_at_a_time_and_tags_every_article(make_settings, monkeypatch):
    services = make_pipeline(make_settings(), CountingEmbedder())
    wire = "Republished from the wire.\n\n" + SPACETY
    ingest(services, [draft(1, SPACETY, "Treasury sanctions Spacety"), draft(2, FLOODS)], 100)
    ingest(services, [draft(3, wire)], 200)  # a copy, in another block than its original
    tags = "SELECT article_id, topic, score FROM article_topics ORDER BY article_id, topic"
    expected = rows(services, tags)
    assert any(a == 200 for a, _, _ in expected)
    with services.warehouse.transaction() as db:
        db.execute("DELETE FROM article_topics")
    from pipeline.store import topics as topics_store

    read, stored_embeddings = [], topics_store.stored_embeddings
    monkeypatch.setattr(
        topics_store,
        "stored_embeddings",
        lambda db, ids=None, lead_model=None: (
            read.append(len(ids)) or stored_embeddings(db, ids, lead_model)
        ),
    )
    seen: list[tuple[int, int]] = []
    retag(services, progress=lambda done, total: seen.append((done, total)), block=2)
    [(stored,)] = rows(services, "SELECT count(*) FROM embeddings")
    assert sum(read) == stored and max(read) == 2  # never more than a block in memory
    assert seen[-1] == (stored, stored) and len(seen) == len(read)
    assert rows(services, tags) == expected
    copy = [(t, s) for a, t, s in expected if a == 200]
    assert copy == [(t, s) for a, t, s in expected if a == 100]
