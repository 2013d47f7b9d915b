"""The orchestrator: the one place that knows the order of the stages.

    drafts ──► content hash ──► embed (chunks, batched) ──► dedup (hash → near-duplicate → story)
           ──► topics + relevance ──► one transaction per batch

The CLI and the scheduler call into this module and add no logic of their own. `Pipeline` holds
what is worth keeping between cycles of the daemon: the loaded model, the dedup index and the
tagger; each is rebuilt from the warehouse when it is first needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

import numpy as np

from pipeline.dedup import DedupDoc, DedupIndex
from pipeline.embed import Embedder, Embedding
from pipeline.models import ArticleDraft, StoredArticle
from pipeline.seeds import SeedDoc, load_seeds
from pipeline.settings import Settings
from pipeline.store import articles as article_store
from pipeline.store.db import Db, Warehouse
from pipeline.textnorm import content_hash, word_count
from pipeline.topics import Tagger, build_tagger

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings describe (the model loads on first use)."""
    e = settings.embed
    return Embedder(e.model, e.sha256, batch_size=e.batch_size,
                    overlap_tokens=e.chunk_overlap_tokens, device=e.device)


def make_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the settings name."""
    return Warehouse(settings.warehouse.path, busy_timeout_s=settings.warehouse.busy_timeout_s)


@dataclass(frozen=True)
class SeedSyncResult:
    """What loading the seed corpus changed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass
class Pipeline:
    """Long-lived services of the ingest stages (kept by the daemon between cycles)."""

    settings: Settings
    warehouse: Warehouse = None  # type: ignore[assignment]
    embedder: Embedder = None  # type: ignore[assignment]
    _index: DedupIndex | None = field(default=None, init=False)
    _tagger: Tagger | None = field(default=None, init=False)
    _seed_max_id: int = field(default=-1, init=False)

    def __post_init__(self) -> None:
        if self.warehouse is None:
            self.warehouse = make_warehouse(self.settings)
        if self.embedder is None:
            self.embedder = make_embedder(self.settings)

    # -- state kept between cycles -------------------------------------------------------------

    def refresh(self, db: Db) -> None:
        """Bring the dedup index and tagger up to date with what the warehouse holds."""
        if self._index is None:
            self._index = DedupIndex(self.settings.dedup)
        for doc, decision in article_store.dedup_rows(db, after_id=self._index.max_id):
            self._index.add(doc, decision)
        seed_ids, seed_vectors = article_store.article_vectors(db, source="seed")
        seed_mark = max(seed_ids, default=0) * 100003 + len(seed_ids)
        if self._tagger is None or seed_mark != self._seed_max_id:
            _, seed_chunks = article_store.chunk_vectors(db, source="seed")
            self._tagger = build_tagger(self.settings, self.embedder, seed_vectors, seed_chunks)
            self._seed_max_id = seed_mark

    def forget(self, ids: Sequence[int]) -> None:
        """Drop articles from the in-memory index (a batch that was not written)."""
        if self._index is not None:
            self._index.remove(ids)

    def reset(self) -> None:
        """Drop all state; the next cycle rebuilds it from the warehouse."""
        self._index = None
        self._tagger = None
        self._seed_max_id = -1

    @property
    def index(self) -> DedupIndex:
        """The dedup index (call refresh first)."""
        assert self._index is not None, "refresh() first"
        return self._index

    @property
    def tagger(self) -> Tagger:
        """The topic tagger (call refresh first)."""
        assert self._tagger is not None, "refresh() first"
        return self._tagger

    # -- the stages ----------------------------------------------------------------------------

    def process(self, drafts: Sequence[ArticleDraft], first_id: int,
                progress: Progress | None = None) -> list[StoredArticle]:
        """Embed, deduplicate and tag a batch; ids are first_id, first_id + 1, ... in order."""
        embeddings = self.embedder.embed([d.text for d in drafts], progress=progress)
        out: list[StoredArticle] = []
        for offset, (draft, emb) in enumerate(zip(drafts, embeddings)):
            out.append(self._decide(first_id + offset, draft, emb))
        return out

    def _decide(self, article_id: int, draft: ArticleDraft, emb: Embedding) -> StoredArticle:
        digest = content_hash(draft.text)
        doc = DedupDoc(id=article_id, text=draft.text, content_hash=digest, lang=draft.lang,
                       published_at=draft.published_at or draft.fetched_at, vector=emb.vector,
                       chunk_vectors=np.stack([c.vector for c in emb.chunks]),
                       is_seed=draft.source == "seed")
        decision = self.index.check(doc)
        # Later articles of the same batch are compared with this one too.
        self.index.add(doc, decision)
        tags = self.tagger.tag(draft.title, draft.text, emb)
        return StoredArticle(id=article_id, draft=draft, content_hash=digest,
                             word_count=word_count(draft.text), embedding=emb, dedup=decision,
                             tags=tags)

    # -- seed corpus ---------------------------------------------------------------------------

    def sync_seeds(self) -> SeedSyncResult:
        """Load new or edited seed files as `source='seed'` articles; unchanged ones cost nothing."""
        docs = load_seeds(self.settings.seeds.dir)
        with self.warehouse.connect(read_only=True) as db:
            stored = article_store.seed_states(db)
        todo: list[tuple[SeedDoc, int | None]] = []
        unchanged = []
        for doc in docs:
            state = stored.get(doc.url)
            if state is not None and state[1] == doc.file_hash:
                unchanged.append(doc.file_name)
            else:
                todo.append((doc, state[0] if state else None))
        missing = tuple(sorted(url.removeprefix("seed:") for url in
                               set(stored) - {d.url for d in docs}))
        if not todo:
            return SeedSyncResult(unchanged=tuple(unchanged), missing=missing)

        now = datetime.now(timezone.utc)
        with self.warehouse.transaction() as db:
            replaced = [old for _, old in todo if old is not None]
            article_store.delete_articles(db, replaced)
            self.reset()
            self.refresh(db)
            next_id = max(article_store.max_article_id(db), self.index.max_id) + 1
            drafts, ids = [], []
            for doc, old_id in todo:
                drafts.append(ArticleDraft(source="seed", url=doc.url, canonical_url=doc.url,
                                           title=doc.title, text=doc.text, text_source="file",
                                           text_source_reason="seed file", fetched_at=now,
                                           seed_file_hash=doc.file_hash, lang="en"))
                if old_id is None:
                    ids.append(next_id)
                    next_id += 1
                else:
                    ids.append(old_id)
            embeddings = self.embedder.embed([d.text for d in drafts])
            # Seeds are tagged against each other, so their vectors must be known first.
            _, seed_vectors = article_store.article_vectors(db, source="seed")
            _, seed_chunks = article_store.chunk_vectors(db, source="seed")
            new_vectors = np.stack([e.vector for e in embeddings])
            new_chunks = np.stack([c.vector for e in embeddings for c in e.chunks])
            self._tagger = build_tagger(
                self.settings, self.embedder,
                np.vstack([m for m in (seed_vectors, new_vectors) if m.size]),
                np.vstack([m for m in (seed_chunks, new_chunks) if m.size]))
            stored_articles = [self._decide(i, d, e) for i, d, e in zip(ids, drafts, embeddings)]
            article_store.insert_articles(db, stored_articles)
        self.reset()
        updated = tuple(doc.file_name for doc, old in todo if old is not None)
        added = tuple(doc.file_name for doc, old in todo if old is None)
        return SeedSyncResult(added=added, updated=updated, unchanged=tuple(unchanged),
                              missing=missing)
