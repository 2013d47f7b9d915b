"""Work on the warehouse besides the cycle: the seed corpus, the feeds list, re-tagging after a
topics or watchlist edit, recomputing dedup decisions after a threshold change, and the
full-text index (indexing what it lacks, sorting it).

Each function does its slow part (embedding, deciding) first and opens the warehouse for writing
only to store the result, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from pipeline.config.settings import Settings
from pipeline.dedup.index import DedupIndex
from pipeline.feeds.config import load_feeds
from pipeline.ingest.services import Services, borrow_tags
from pipeline.ingest.vectors import embed_text, with_vectors
from pipeline.models import (
    ArticleDraft,
    DedupDecision,
    DedupDoc,
    Embedding,
    StoryEvidence,
    TagResult,
    merge_evidence,
)
from pipeline.search.terms import ANALYZER, index_terms
from pipeline.store import articles as article_store
from pipeline.store import dedup as dedup_store
from pipeline.store import entities as entities_store
from pipeline.store import feeds as feed_store
from pipeline.store import search as search_store
from pipeline.store import stories as stories_store
from pipeline.store import topics as topics_store
from pipeline.store.articles import evidence_json
from pipeline.store.db import Warehouse
from pipeline.tag.seeds import load_seeds, seeds_signature
from pipeline.tag.topics import build_tagger

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SeedSyncResult:
    """What loading the seed corpus changed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def sync_feeds(settings: Settings, warehouse: Warehouse) -> feed_store.SyncResult:
    """Bring the warehouse's feeds table in line with the feeds file."""
    configs = load_feeds(settings.feeds.file, missing_ok=settings.feeds.allow_missing)
    with warehouse.transaction() as db:
        return feed_store.sync_feeds(db, configs)


def sync_seeds_if_changed(services: Services) -> SeedSyncResult | None:
    """Sync the seeds only if a seed file changed since the last sync (a stat per file; the
    daemon's cycles call this instead of redoing init's work)."""
    if seeds_signature(services.settings.seeds.dir) == services.seeds_mark:
        return None
    return sync_seeds(services)


def sync_seeds(services: Services) -> SeedSyncResult:
    """Load new or edited seed files as `source='seed'` articles; unchanged ones cost nothing."""
    mark = seeds_signature(services.settings.seeds.dir)
    result = _sync_seeds(services)
    services.seeds_mark = mark
    return result


def _sync_seeds(services: Services) -> SeedSyncResult:
    settings, warehouse = services.settings, services.warehouse
    docs = load_seeds(settings.seeds.dir)
    with warehouse.connect(read_only=True) as db:
        stored = article_store.seed_states(db)
        todo = [
            (doc, stored[doc.url][0] if doc.url in stored else None)
            for doc in docs
            if doc.url not in stored or stored[doc.url][1] != doc.file_hash
        ]
        unchanged = tuple(
            doc.file_name
            for doc in docs
            if doc.url in stored and stored[doc.url][1] == doc.file_hash
        )
        missing = tuple(
            sorted(url.removeprefix("seed:") for url in set(stored) - {d.url for d in docs})
        )
        if not todo:
            return SeedSyncResult(unchanged=unchanged, missing=missing)
        next_id = article_store.max_article_id(db) + 1
        seed_ids, seed_vectors = article_store.article_vectors(db, source="seed")
        chunk_keys, seed_chunks = article_store.chunk_vectors(db, source="seed")

    now = datetime.now(UTC)
    replaced = {old for _, old in todo if old is not None}
    drafts, ids = [], []
    for doc, old_id in todo:
        drafts.append(
            ArticleDraft(
                source="seed",
                url=doc.url,
                canonical_url=doc.url,
                title=doc.title,
                text=doc.text,
                text_source="file",
                text_source_reason="seed file",
                fetched_at=now,
                seed_file_hash=doc.file_hash,
                lang="en",
            )
        )
        if old_id is None:
            ids.append(next_id)
            next_id += 1
        else:
            ids.append(old_id)
    embeddings = services.embedder.embed([d.text for d in drafts])
    # Seeds are tagged against each other, so their vectors must be known first; an edited
    # seed's old vectors no longer count.
    kept = [k for k, aid in enumerate(seed_ids) if aid not in replaced]
    kept_chunks = [k for k, (aid, _) in enumerate(chunk_keys) if aid not in replaced]
    new_vectors = np.stack([e.vector for e in embeddings])
    new_chunks = np.stack([c.vector for e in embeddings for c in e.chunks])
    tagger = build_tagger(
        settings.topics,
        settings.seeds.dir,
        services.embedder,
        np.vstack(
            [
                m
                for m in (seed_vectors[kept] if kept else None, new_vectors)
                if m is not None and m.size
            ]
        ),
        np.vstack(
            [
                m
                for m in (seed_chunks[kept_chunks] if kept_chunks else None, new_chunks)
                if m is not None and m.size
            ]
        ),
        services.lead_embedder,
    )
    services.reset()
    with warehouse.connect(read_only=True) as db:
        services.refresh(db)
    services.forget(sorted(replaced))
    services.use_tagger(tagger)
    stored_articles = services.decide_all(ids, drafts, embeddings)
    try:
        with warehouse.transaction() as db:
            article_store.delete_articles(db, sorted(replaced))
            article_store.insert_articles(db, stored_articles)
    finally:
        services.reset()
    return SeedSyncResult(
        added=tuple(d.file_name for d, old in todo if old is None),
        updated=tuple(d.file_name for d, old in todo if old is not None),
        unchanged=unchanged,
        missing=missing,
    )


@dataclass(frozen=True)
class RetagResult:
    """Tags and watchlist matches added and removed by a retag, per topic and per entity."""

    topics: dict[str, dict[str, int]]
    entities: dict[str, dict[str, int]]


def _changes(before: dict[int, set[str]], after: dict[int, set[str]]) -> dict[str, dict[str, int]]:
    changes: dict[str, dict[str, int]] = {}
    for aid in set(before) | set(after):
        new, old = after.get(aid, set()), before.get(aid, set())
        for name in new - old:
            changes.setdefault(name, {"added": 0, "removed": 0})["added"] += 1
        for name in old - new:
            changes.setdefault(name, {"added": 0, "removed": 0})["removed"] += 1
    return dict(sorted(changes.items()))


def retag(services: Services, progress: Progress | None = None) -> RetagResult:
    """Re-score every stored article against the current topics file and re-scan it for the
    current watchlist (no fetching, no re-embedding); one transaction."""
    services.reset()
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        before = topics_store.current_tags(db)
        entities_before = entities_store.current_entities(db)
        leads = services.lead_embedder
        articles = list(
            topics_store.stored_embeddings(db, lead_model=leads.name if leads else None)
        )
        lenders = topics_store.borrowers(db)
    results, found = {}, {}
    watchlist = services.watchlist
    for n, (aid, title, text, emb, lang) in enumerate(articles, 1):
        if aid not in lenders:
            results[aid] = services.tagger.tag(title, text, emb, lang)
        found[aid] = watchlist.match(title, text)
        if progress is not None and (n % 25 == 0 or n == len(articles)):
            progress(n, len(articles))
    for aid, original in lenders.items():
        # A copy stored without vectors carries its original's tags, re-scored with it.
        if original in results:
            results[aid] = borrow_tags(results[original], original)
    with services.warehouse.transaction() as db:
        topics_store.replace_all_tags(db, results)
        entities_store.replace_all_entities(db, found)
    return RetagResult(
        topics=_changes(before, {aid: {t.topic for t in r.topics} for aid, r in results.items()}),
        entities=_changes(
            entities_before, {aid: {m.entity for m in ms} for aid, ms in found.items()}
        ),
    )


def _tags_after_rebuild(
    services: Services,
    decided: list[tuple[DedupDoc, DedupDecision, DedupDecision]],
    completed: dict[int, Embedding],
    bare: set[int],
    langs: dict[int, str | None],
) -> dict[int, TagResult]:
    """Tags that a rebuild changes: articles given vectors of their own are tagged, and copies
    without vectors borrow from their (possibly new) original."""
    if not completed and not bare:
        return {}
    out: dict[int, TagResult] = {}
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        titles = article_store.titles(db, list(completed))
        texts = article_store.texts(db, list(completed))
        for aid, emb in completed.items():
            out[aid] = services.tagger.tag(titles.get(aid, ""), texts[aid], emb, langs.get(aid))
        copies = {
            doc.id: new.duplicate_of
            for doc, old, new in decided
            if doc.id in bare
            and doc.id not in completed
            and new.duplicate_of is not None
            and new.duplicate_of != old.duplicate_of
        }
        lent = article_store.borrowed(db, sorted({o for o in copies.values() if o not in out}))
    for aid, original in copies.items():
        tags = out.get(original) or (lent[original][1] if original in lent else None)
        if tags is not None:
            out[aid] = borrow_tags(tags, original)
    return out


def rebuild_dedup(services: Services, progress: Progress | None = None) -> dict[str, int]:
    """Recompute duplicates and stories of every stored article, in id order, with the
    current thresholds; one transaction. Headlines stored without a vector (before stories
    used them) are embedded first. Returns counts, including how many decisions changed."""
    leads = services.lead_embedder
    index = DedupIndex(
        services.settings.dedup,
        text_loader=services.load_texts,
        lead_anchors=leads.anchors if leads is not None else None,
    )
    with services.warehouse.connect(read_only=True) as db:
        rows = list(article_store.dedup_rows(db, lead_model=leads.name if leads else None))
        untitled = article_store.titles(db, [doc.id for doc, _ in rows if doc.title_vector is None])
        bare = article_store.titles(db, [doc.id for doc, _ in rows if not doc.chunk_vectors.size])
    title_vectors = services.embedder.encode(list(untitled.values())) if untitled else None
    completed: dict[int, Embedding] = {}

    def complete(doc: DedupDoc) -> DedupDoc:
        # A copy stored without vectors that is no longer a copy under the current thresholds.
        completed[doc.id] = embed_text(
            services.embedder, services.lead_embedder, doc.text, bare.get(doc.id, ""), doc.lang
        )
        return with_vectors(doc, completed[doc.id])

    if title_vectors is not None:
        found = dict(zip(untitled, title_vectors, strict=True))
        rows = [
            (replace(doc, title_vector=found.get(doc.id, doc.title_vector)), old)
            for doc, old in rows
        ]
    decided: list[tuple[DedupDoc, DedupDecision, DedupDecision]] = []
    merges: list[tuple[int, int, int, StoryEvidence | None]] = []
    for start in range(0, len(rows), 100):
        block = rows[start : start + 100]
        decisions = index.decide([doc for doc, _ in block], complete)
        for (doc, old), new in zip(block, decisions, strict=True):
            decided.append((doc, old, new))
            merges += [
                (story, new.story_id, doc.id, new.story_evidence) for story in new.merged_stories
            ]
        if progress is not None:
            progress(min(start + 100, len(rows)), len(rows))
    changed: list[tuple[int, DedupDecision]] = []
    stats = {"articles": len(rows), "changed": 0, "duplicates": 0, "stories": 0, "merges": 0}
    for doc, old, new in decided:
        # A later article may have merged this one's story: the story it belongs to now.
        new = replace(new, story_id=index.story_of(doc.id))
        if (old.duplicate_of, old.story_id, old.kind) != (
            new.duplicate_of,
            new.story_id,
            new.kind,
        ) or old.story_evidence != new.story_evidence:
            changed.append((doc.id, new))
        stats["duplicates"] += new.duplicate_of is not None
        stats["stories"] += new.duplicate_of is None and new.story_id == doc.id
    langs = {doc.id: doc.lang for doc, _, _ in decided if doc.id in completed}
    retagged = _tags_after_rebuild(services, decided, completed, set(bare), langs)
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
                (
                    story,
                    into,
                    index.story_of(into),
                    article_id,
                    evidence_json(merge_evidence(evidence, story)),
                )
                for story, into, article_id, evidence in merges
            ],
        )
    stats["changed"] = sum(
        (old.duplicate_of, old.story_id, old.kind)
        != (new.duplicate_of, index.story_of(doc.id), new.kind)
        for doc, old, new in decided
    )
    stats["merges"] = len(merges)
    services.reset()
    return stats


def index_for_search(
    warehouse: Warehouse, progress: Progress | None = None, block: int = 2000
) -> int:
    """Add the articles the full-text index lacks (stored before it existed, or by an older
    analyzer); a transaction per block of articles. Returns how many were indexed."""
    done = 0
    with warehouse.connect(read_only=True) as db:
        total = search_store.count_unindexed(db, ANALYZER)
    while done < total:
        with warehouse.connect(read_only=True) as db:
            rows = search_store.unindexed(db, ANALYZER, block)
        if not rows:
            break
        terms = {int(aid): index_terms(title, text) for aid, title, text in rows}
        with warehouse.transaction() as db:
            search_store.write_terms(db, terms, replace=True)
        done += len(rows)
        if progress is not None:
            progress(done, total)
    return done


def index_leads(services: Services, progress: Progress | None = None, block: int = 256) -> int:
    """Embed the multilingual leads that stored originals lack (stored before the model was on,
    or by another one); a transaction per block. Returns how many were added (0 when off)."""
    from pipeline.dedup.crosslingual import lead_of

    leads = services.lead_embedder
    if leads is None:
        return 0
    warehouse = services.warehouse
    with warehouse.connect(read_only=True) as db:
        todo = article_store.lacking_leads(db, leads.name)
    done = 0
    for start in range(0, len(todo), block):
        ids = todo[start : start + block]
        with warehouse.connect(read_only=True) as db:
            rows = article_store.lead_inputs(db, ids)
        vectors = leads.passages([lead_of(title, text, lang) for _, title, text, lang in rows])
        with warehouse.transaction() as db:
            article_store.write_leads(
                db, leads.name, [(aid, lang) for aid, _, _, lang in rows], vectors
            )
        done += len(rows)
        if progress is not None:
            progress(done, len(todo))
    return done


def compact_search_index(warehouse: Warehouse) -> int:
    """Sort the term table by term if articles were indexed since it last was (maintenance);
    returns the number of articles that were waiting."""
    with warehouse.connect(read_only=True) as db:
        waiting = search_store.uncompacted(db)
    if waiting:
        with warehouse.transaction() as db:
            search_store.compact(db)
    return waiting
