"""Work on the warehouse besides the cycle: the seed corpus, the feeds list, re-tagging after a
topics or watchlist edit, the full-text index (indexing what it lacks, sorting it), the text
store beside the warehouse and the multilingual leads stored articles lack. Recomputing dedup
decisions after a threshold change is pipeline/ingest/rebuild.py's.

Each function does its slow part (embedding, deciding) first and opens the warehouse for writing
only to store the result, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.config.settings import Settings
from pipeline.dedup.crosslingual import lead_of
from pipeline.feeds.config import load_feeds
from pipeline.ingest.batch import BatchStep, borrow_tags
from pipeline.ingest.learned import with_marks
from pipeline.ingest.services import Services
from pipeline.models import ArticleDraft, Embedding
from pipeline.search.terms import ANALYZER, index_terms
from pipeline.store import articles as article_store
from pipeline.store import entities as entities_store
from pipeline.store import feeds as feed_store
from pipeline.store import search as search_store
from pipeline.store import topics as topics_store
from pipeline.store.db import Warehouse
from pipeline.store.textstore import TextStore, TextStoreError, keep_committed
from pipeline.tag.seeds import SeedDoc, load_seeds, seeds_signature
from pipeline.tag.topics import Tagger, build_tagger

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _SeedPlan:
    """The seed files to load (with the id each replaces, if edited) and the stored seeds'
    vectors, read before anything is embedded."""

    todo: list[tuple[SeedDoc, int | None]]
    next_id: int
    seed_ids: list[int]
    seed_vectors: np.ndarray
    chunk_keys: list[tuple[int, int]]
    seed_chunks: np.ndarray


def _sync_seeds(services: Services) -> SeedSyncResult:
    docs = load_seeds(services.settings.seeds.dir)
    with services.warehouse.connect(read_only=True) as db:
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
        plan = _SeedPlan(
            todo,
            article_store.max_article_id(db) + 1,
            *article_store.article_vectors(db, source="seed"),
            *article_store.chunk_vectors(db, source="seed"),
        )
    _store_seeds(services, plan)
    return SeedSyncResult(
        added=tuple(d.file_name for d, old in todo if old is None),
        updated=tuple(d.file_name for d, old in todo if old is not None),
        unchanged=unchanged,
        missing=missing,
    )


def _store_seeds(services: Services, plan: _SeedPlan) -> None:
    """Embed, tag and deduplicate the planned seeds and store them (an edited seed replaces
    its old row), in one transaction."""
    ids, drafts = _seed_drafts(plan, datetime.now(UTC))
    embeddings = services.embedder.embed([d.text for d in drafts])
    replaced = {old for _, old in plan.todo if old is not None}
    tagger = _seed_tagger(services, plan, replaced, embeddings)
    services.reset()
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    services.forget(sorted(replaced))
    services.use_tagger(tagger)
    stored_articles = BatchStep(services).decide_embedded(ids, drafts, embeddings)
    try:
        with services.warehouse.transaction() as db:
            article_store.delete_articles(db, sorted(replaced))
            article_store.insert_articles(db, stored_articles)
        keep_committed(services.warehouse.path, stored_articles)
    finally:
        services.reset()


def _seed_drafts(plan: _SeedPlan, now: datetime) -> tuple[list[int], list[ArticleDraft]]:
    """The planned seed files as drafts, with their ids (an edited seed keeps its id)."""
    next_id = plan.next_id
    drafts, ids = [], []
    for doc, old_id in plan.todo:
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
    return ids, drafts


def _seed_tagger(
    services: Services, plan: _SeedPlan, replaced: set[int], embeddings: list[Embedding]
) -> Tagger:
    """The tagger of the seeds as they will be stored. Seeds are tagged against each other, so
    their vectors must be known first; an edited seed's old vectors no longer count."""
    kept = [k for k, aid in enumerate(plan.seed_ids) if aid not in replaced]
    kept_chunks = [k for k, (aid, _) in enumerate(plan.chunk_keys) if aid not in replaced]
    new_vectors = np.stack([e.vector for e in embeddings])
    new_chunks = np.stack([c.vector for e in embeddings for c in e.chunks])
    settings = services.settings
    return build_tagger(
        settings.topics,
        settings.seeds.dir,
        services.embedder,
        _stacked(plan.seed_vectors[kept] if kept else None, new_vectors),
        _stacked(plan.seed_chunks[kept_chunks] if kept_chunks else None, new_chunks),
        services.lead_embedder,
    )


def _stacked(*parts: np.ndarray | None) -> np.ndarray:
    return np.vstack([m for m in parts if m is not None and m.size])


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


def retag(services: Services, progress: Progress | None = None, block: int = 1000) -> RetagResult:
    """Re-score every stored article against the current topics file, and the current version
    of each topic's learned part, and re-scan it for the current watchlist (no fetching, no
    re-embedding); marked articles keep their marks' answers. Articles are read `block` at a
    time, so memory holds one block's texts and vectors however large the warehouse; the new
    tags are written in one transaction."""
    services.reset()
    with services.warehouse.connect(read_only=True) as db:
        # The tagger and the watchlist only: the dedup index (every stored article's shingles
        # and vectors) decides nothing here.
        services.refresh_tagger(db)
        services.refresh_config()
        before = topics_store.current_tags(db)
        entities_before = entities_store.current_entities(db)
        ids = topics_store.embedded_ids(db)
        lenders = topics_store.borrowers(db)
    leads = services.lead_embedder
    results, found = {}, {}
    watchlist = services.watchlist
    for start in range(0, len(ids), block):
        # A read connection per block, closed while the block is tagged: the daemon's writes
        # go on between blocks. Articles stored meanwhile are tagged by their own cycle.
        with services.warehouse.connect(read_only=True) as db:
            rows = list(
                topics_store.stored_embeddings(
                    db, ids[start : start + block], leads.name if leads else None
                )
            )
        for aid, title, text, emb, lang in rows:
            if aid not in lenders:
                results[aid] = services.tagger.tag(title, text, emb, lang, article=aid)
            found[aid] = watchlist.match(title, text)
        if progress is not None:
            progress(min(start + block, len(ids)), len(ids))
    for aid, original in lenders.items():
        # A copy stored without vectors carries its original's tags, re-scored with it.
        if original in results:
            results[aid] = borrow_tags(results[original], original)
    with services.warehouse.transaction() as db:
        results = with_marks(db, results, services.settings.topics.min_relevance)
        topics_store.replace_all_tags(db, results)
        entities_store.replace_all_entities(db, found)
    return RetagResult(
        topics=_changes(before, {aid: {t.topic for t in r.topics} for aid, r in results.items()}),
        entities=_changes(
            entities_before, {aid: {m.entity for m in ms} for aid, ms in found.items()}
        ),
    )


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


def keep_texts(warehouse: Warehouse, progress: Progress | None = None, block: int = 2000) -> int:
    """Bring the text store beside the warehouse up to date (pipeline/store/textstore.py): add
    the texts it lacks or holds under another hash (stored before it existed, or missed when
    a write of it failed), a block of articles at a time, and drop those of articles the
    warehouse no longer holds. A damaged store is built again. Returns how many were added; a
    store that cannot be written is logged, not raised (pages read the warehouse meanwhile)."""
    store = TextStore(warehouse.path)
    with warehouse.connect(read_only=True) as db:
        current = article_store.content_hashes(db)
    done = 0
    try:
        if not store.healthy():
            log.warning("text store %s is damaged; building it again", store.path)
            store.remove()
        kept = store.hashes()
        store.forget(sorted(aid for aid in kept if aid not in current))
        todo = sorted(aid for aid, digest in current.items() if kept.get(aid) != digest)
        for start in range(0, len(todo), block):
            ids = todo[start : start + block]
            with warehouse.connect(read_only=True) as db:
                found = article_store.warehouse_texts(db, ids)
            done += store.put((aid, current[aid], text) for aid, text in found.items())
            if progress is not None:
                progress(done, len(todo))
    except TextStoreError as exc:
        log.warning("%s; %d text(s) added before it failed", exc, done)
    return done


def index_leads(services: Services, progress: Progress | None = None, block: int = 256) -> int:
    """Embed the multilingual leads that stored originals lack (stored before the model was on,
    or by another one); a transaction per block. Returns how many were added (0 when off)."""
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
