"""`dedup --rebuild`: every stored article's duplicate and story decision made again, in id
order, with the current thresholds, into a fresh index.

The decisions go through the same batch step as ingest (pipeline/ingest/batch.py): a copy stored
without vectors that is no longer a copy is embedded, and tagged; a copy whose original changed
borrows the new original's tags. Headlines stored without a vector (before stories used them)
are embedded first. Everything slow happens before the one write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pipeline.dedup.index import DedupIndex
from pipeline.ingest.batch import BatchStep
from pipeline.ingest.services import Services
from pipeline.ingest.upkeep import Progress
from pipeline.ingest.vectors import embed_text
from pipeline.models import (
    DedupDecision,
    DedupDoc,
    Embedding,
    StoryEvidence,
    TagResult,
    merge_evidence,
)
from pipeline.store import articles as article_store
from pipeline.store import dedup as dedup_store
from pipeline.store import marks as mark_store
from pipeline.store import stories as stories_store
from pipeline.store import topics as topics_store
from pipeline.store.articles import evidence_json

#: A stored article's dedup document and the decision stored for it, then the one made now.
Decided = tuple[DedupDoc, DedupDecision, DedupDecision]
#: A merge a decision made: (story merged, story it went into, article, evidence).
Merge = tuple[int, int, int, StoryEvidence | None]


def rebuild_dedup(services: Services, progress: Progress | None = None) -> dict[str, int]:
    """Recompute duplicates and stories of every stored article, in id order, with the
    current thresholds; one transaction. Headlines stored without a vector (before stories
    used them) are embedded first. Returns counts, including how many decisions changed."""
    leads = services.lead_embedder
    index = DedupIndex(
        services.settings.dedup,
        text_loader=services.load_texts,
        lead_anchors=leads.anchors if leads is not None else None,
        entities=services.watched_in,
    )
    with services.warehouse.connect(read_only=True) as db:
        rows = list(article_store.dedup_rows(db, lead_model=leads.name if leads else None))
        story_marks = mark_store.story_marks(db)
        split_copies = mark_store.copies_of(db, [a for k, a, _ in story_marks if k == "split"])
        untitled = article_store.titles(db, [doc.id for doc, _ in rows if doc.title_vector is None])
        bare = article_store.titles(db, [doc.id for doc, _ in rows if not doc.chunk_vectors.size])
    rows, title_vectors = _embed_headlines(services, rows, untitled)
    step = BatchStep(services, index=index)
    completed: dict[int, Embedding] = {}
    decided, merges = _redecide(step, rows, bare, completed, progress)
    # The analysts' splits and merges outrank the decisions made again.
    index.apply_story_marks(story_marks, split_copies)
    decided = [
        (doc, old, replace(new, story_id=index.story_of(doc.id))) for doc, old, new in decided
    ]
    changed = [
        (doc.id, new)
        for doc, old, new in decided
        if _outcome(old) != _outcome(new) or old.story_evidence != new.story_evidence
    ]
    langs = {doc.id: doc.lang for doc, _, _ in decided if doc.id in completed}
    retagged = _retag_rebuilt(step, decided, completed, set(bare), langs)
    with services.warehouse.transaction() as db:
        if title_vectors is not None:
            article_store.set_title_vectors(db, list(untitled), title_vectors)
        dedup_store.update_decisions(db, changed)
        for aid, emb in completed.items():
            article_store.replace_embedding(db, aid, emb)
            if emb.lead_vector is not None:  # an original now: linked across languages too
                article_store.write_leads(
                    db, emb.lead_model, [(aid, langs.get(aid))], emb.lead_vector[None, :]
                )
        topics_store.replace_all_tags(db, retagged)
        stories_store.replace_merges(
            db,
            [
                (story, into, index.story_of(into), aid, evidence_json(merge_evidence(ev, story)))
                for story, into, aid, ev in merges
            ]
            + _marked_merges(index, story_marks),
        )
    services.reset()
    return _counts(len(rows), decided, merges)


def _embed_headlines(
    services: Services, rows: list[tuple[DedupDoc, DedupDecision]], untitled: dict[int, str]
) -> tuple[list[tuple[DedupDoc, DedupDecision]], np.ndarray | None]:
    """Embed the headlines stored without a vector (`untitled`: article id to headline): the
    rows with those vectors in their documents, and the vectors (None when there were none)."""
    title_vectors = services.embedder.encode(list(untitled.values())) if untitled else None
    if title_vectors is not None:
        found = dict(zip(untitled, title_vectors, strict=True))
        rows = [
            (replace(doc, title_vector=found.get(doc.id, doc.title_vector)), old)
            for doc, old in rows
        ]
    return rows, title_vectors


def _counts(articles: int, decided: list[Decided], merges: list[Merge]) -> dict[str, int]:
    """What a rebuild reports: the articles decided again, how many decisions changed, the
    duplicates, the stories and the merges."""
    return {
        "articles": articles,
        "changed": sum(_outcome(old) != _outcome(new) for _, old, new in decided),
        "duplicates": sum(new.duplicate_of is not None for _, _, new in decided),
        "stories": sum(
            new.duplicate_of is None and new.story_id == doc.id for doc, _, new in decided
        ),
        "merges": len(merges),
    }


def _marked_merges(
    index: DedupIndex, marks: Sequence[tuple[str, int, int]]
) -> list[tuple[int, int, int, int, str | None]]:
    """The analysts' merges as `story_merges` rows: the later story into the earlier (a story's
    id is its first article's, which stands as the article of the merge)."""
    return [
        (max(a, b), min(a, b), index.story_of(min(a, b)), max(a, b), '{"mark": true}')
        for kind, a, b in marks
        if kind == "merge"
    ]


def _outcome(decision: DedupDecision) -> tuple[int | None, int | None, str | None]:
    return decision.duplicate_of, decision.story_id, decision.kind


def _redecide(
    step: BatchStep,
    rows: list[tuple[DedupDoc, DedupDecision]],
    bare: dict[int, str],
    completed: dict[int, Embedding],
    progress: Progress | None,
) -> tuple[list[Decided], list[Merge]]:
    """Decide the stored articles again, in id order, in blocks of 100 (for progress); a copy
    stored without vectors that is no longer one gets its vectors (kept in `completed`). Each
    new decision names the story its article belongs to at the end (a later article may have
    merged it)."""
    services = step.services

    def embed_one(doc: DedupDoc) -> Embedding:
        return embed_text(
            services.embedder, services.lead_embedder, doc.text, bare.get(doc.id, ""), doc.lang
        )

    decided: list[Decided] = []
    merges: list[Merge] = []
    for start in range(0, len(rows), 100):
        block = rows[start : start + 100]
        decisions = step.decide([doc for doc, _ in block], completed, embed_one)
        for (doc, old), new in zip(block, decisions, strict=True):
            decided.append((doc, old, new))
            merges += [
                (story, new.story_id, doc.id, new.story_evidence) for story in new.merged_stories
            ]
        if progress is not None:
            progress(min(start + 100, len(rows)), len(rows))
    index = step.index
    return [
        (doc, old, replace(new, story_id=index.story_of(doc.id))) for doc, old, new in decided
    ], merges


def _retag_rebuilt(
    step: BatchStep,
    decided: list[Decided],
    completed: dict[int, Embedding],
    bare: set[int],
    langs: dict[int, str | None],
) -> dict[int, TagResult]:
    """Tags that a rebuild changes: articles given vectors of their own are tagged, and copies
    without vectors whose original changed borrow from the new one."""
    copies: dict[int, int | None] = {
        doc.id: new.duplicate_of
        for doc, old, new in decided
        if doc.id in bare
        and doc.id not in completed
        and new.duplicate_of is not None
        and new.duplicate_of != old.duplicate_of
    }
    if not completed and not copies:
        return {}
    services = step.services
    with services.warehouse.connect(read_only=True) as db:
        services.refresh_tagger(db)
        titles = article_store.titles(db, list(completed))
        texts = article_store.texts(db, list(completed))
    heads = {aid: (titles.get(aid, ""), texts[aid], langs.get(aid)) for aid in completed}
    lent = step.lend(sorted({o for o in copies.values() if o is not None and o not in completed}))
    return step.tags(heads, completed, copies, {o: tags for o, (_, tags) in lent.items()})
