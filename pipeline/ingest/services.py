"""What the ingest stages keep between cycles: the loaded model, the dedup index, the tagger, the
watchlist, the alert rules and the extraction workers.

The daemon holds one `Services` for its whole life; each part is built from the warehouse when
first needed and brought up to date by `refresh`. All of it is prepared by `warm_up` while the
warehouse is open read-only, so loading the model or the index never shuts analysts out. What a
batch goes through with these parts (embed, decide, tag) is pipeline/ingest/batch.py's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.alerts.conditions import SearchMatcher
from pipeline.alerts.config import alerts_mark, load_alert_config
from pipeline.config.settings import Settings
from pipeline.dedup.index import DedupIndex
from pipeline.dedup.vectorindex import VectorIndex, index_paths
from pipeline.embed.english import Embedder
from pipeline.embed.factory import make_embedder, make_lead_embedder, make_warehouse
from pipeline.embed.multilingual import LeadEmbedder, LeadModelState
from pipeline.extract.pool import Extractor, shared_extractor
from pipeline.ingest.learned import load_models, model_versions
from pipeline.search.saved import SavedSearches
from pipeline.store import articles as article_store
from pipeline.store import marks as mark_store
from pipeline.store.db import Db, Warehouse
from pipeline.tag.topics import Tagger, build_tagger
from pipeline.tag.watchlist import Watchlist, load_watchlist, watchlist_mark

log = logging.getLogger(__name__)


def vector_paths(settings: Settings) -> tuple[Path, Path] | None:
    """Where the chunk vector index is saved beside the warehouse (None: in memory only)."""
    path = Path(settings.warehouse.path)
    return None if str(path) == ":memory:" else index_paths(path)


def load_rows(db: Db, index: DedupIndex, leads: LeadEmbedder | None, chunks_after: int = 0) -> None:
    """Add the stored articles the index does not hold yet (chunk vectors only of those after
    `chunks_after`: the saved vector index holds the earlier ones)."""
    index.add_all(
        article_store.dedup_rows(
            db,
            after_id=index.max_id,
            chunks_after=chunks_after,
            lead_model=leads.name if leads else None,
        )
    )


def load_index(
    settings: Settings,
    db: Db,
    model: str,
    leads: LeadEmbedder | None,
    text_loader: Callable[[Sequence[int]], dict[int, str]],
    entities: Callable[[str], Iterable[str]] | None = None,
) -> tuple[DedupIndex, VectorIndex | None]:
    """The dedup index from the warehouse, and the saved chunk vector index it was given when
    that is whole and up to date (else None: chunk vectors came from chunk_embeddings)."""
    paths = vector_paths(settings)
    vectors = None
    if paths is not None:
        vectors = VectorIndex.load(
            *paths, model=model, exact_below=settings.dedup.vector_index_min_rows
        )
        if vectors is not None and vectors.max_owner > article_store.max_article_id(db):
            log.warning(
                "chunk vector index %s holds articles the warehouse does not: rebuilding "
                "it from the warehouse",
                paths[0],
            )
            vectors = None
    anchors = leads.anchors if leads is not None else None
    index = DedupIndex(
        settings.dedup,
        text_loader=text_loader,
        vectors=vectors,
        lead_anchors=anchors,
        entities=entities,
    )
    load_rows(db, index, leads, chunks_after=vectors.max_owner if vectors else 0)
    if vectors is None or paths is None:
        return index, None
    # English articles with vectors of their own (a copy found by its text has none).
    held = vectors.owners()
    wanted = index.english_ids() & article_store.ids_with_chunks(db, up_to=vectors.max_owner)
    if held == wanted:
        return index, vectors
    log.warning(
        "chunk vector index %s is stale (%d articles it should hold are "
        "missing, %d are no longer stored): rebuilding it from the warehouse",
        paths[0],
        len(wanted - held),
        len(held - wanted),
    )
    index = DedupIndex(
        settings.dedup, text_loader=text_loader, lead_anchors=anchors, entities=entities
    )
    load_rows(db, index, leads)
    return index, None


def _write_vectors(vectors: VectorIndex, paths: tuple[Path, Path], model: str) -> bool:
    """Write the chunk vector index to its files beside the warehouse, saying how long it took;
    False (with a warning) when it cannot be written."""
    started = time.perf_counter()
    try:
        vectors.save(*paths, model=model)
    except OSError as exc:
        log.warning("cannot save the chunk vector index %s: %s", paths[0], exc)
        return False
    log.info(
        "chunk vector index saved (%d rows) in %.1f s",
        vectors.size,
        time.perf_counter() - started,
    )
    return True


@dataclass
class Services:
    """The embedder, the dedup index, the topic tagger, the watchlist and the alert rules, kept
    between cycles."""

    settings: Settings
    warehouse: Warehouse = None  # type: ignore[assignment]
    embedder: Embedder = None  # type: ignore[assignment]
    #: Saved-search name and new article ids -> the ids that match; by default the saved
    #: searches of `[search] file` (pipeline/search/saved.py). None: rules with a search
    #: condition wait and never fire.
    search_matcher: SearchMatcher | None = None
    _index: DedupIndex | None = field(default=None, init=False)
    _tagger: Tagger | None = field(default=None, init=False)
    _tagger_mark: tuple = field(default=(), init=False)
    _models_mark: tuple | None = field(default=None, init=False)  # learned versions loaded
    _story_marks: int = field(default=-1, init=False)  # the newest mark the index has seen
    _watchlist: Watchlist | None = field(default=None, init=False)
    _watchlist_mark: tuple = field(default=(), init=False)
    _alerts: Any = field(default=None, init=False)
    _alerts_mark: tuple = field(default=(), init=False)
    _saved_at: float | None = field(default=None, init=False)  # monotonic, last vector save
    _saved_version: tuple = field(default=(), init=False)  # (index, version) last saved
    _leads: Any = field(default=None, init=False)  # (LeadEmbedder | None, LeadModelState)
    seeds_mark: tuple = field(default=(), init=False)  # seed files as last synced

    def __post_init__(self) -> None:
        if self.warehouse is None:
            self.warehouse = make_warehouse(self.settings)
        if self.embedder is None:
            self.embedder = make_embedder(self.settings)
        if self.search_matcher is None:
            self.search_matcher = SavedSearches(
                self.settings.search, self.embedder, self.warehouse
            ).match_saved

    def warm_up(self) -> None:
        """Load the model and bring index and tagger up to date, reading the warehouse only."""
        if self.settings.ingest.fetch_pages:
            self.extractor.start()  # the workers start while the model loads
        self.embedder.encode(["warm up"])
        self.lead_embedder  # noqa: B018 (loads the multilingual model, or says why it is off)
        with self.warehouse.connect(read_only=True) as db:
            self.refresh(db)

    def refresh(self, db: Db) -> None:
        """Bring the dedup index and tagger up to date with what the warehouse holds."""
        if self._index is None:
            self._build_index(db)
            self._story_marks = -1
        else:
            load_rows(db, self._index, self.lead_embedder)
        self._apply_story_marks(db)
        self.refresh_tagger(db)
        self.refresh_config()

    def _apply_story_marks(self, db: Db) -> None:
        """Analysts' splits and merges (made by another process, or by this one's reading room)
        reach the index the next decisions read, once per change of the marks."""
        latest = mark_store.latest_id(db)
        if self._index is None or latest == self._story_marks:
            return
        marks = mark_store.story_marks(db)
        copies = mark_store.copies_of(db, [a for kind, a, _ in marks if kind == "split"])
        self._index.apply_story_marks(marks, copies)
        self._story_marks = latest

    def refresh_tagger(self, db: Db) -> None:
        """Rebuild the tagger if the seeds or the topics file changed since it was built."""
        seed_ids, seed_vectors = article_store.article_vectors(db, source="seed")
        # The tagger follows the seeds and the topics file: an edit applies to the next cycle.
        try:
            topics_mtime = self.settings.topics.file.stat().st_mtime_ns
        except OSError:
            topics_mtime = None
        mark = (tuple(seed_ids), topics_mtime)
        if self._tagger is None or mark != self._tagger_mark:
            _, seed_chunks = article_store.chunk_vectors(db, source="seed")
            self._tagger = build_tagger(
                self.settings.topics,
                self.settings.seeds.dir,
                self.embedder,
                seed_vectors,
                seed_chunks,
                self.lead_embedder,
            )
            self._tagger_mark = mark
            self._models_mark = None
        self._refresh_learned(db)

    def _refresh_learned(self, db: Db) -> None:
        """Give the tagger the current versions of the topics' learned parts (marks)."""
        versions = model_versions(db) if self.settings.topics.learn else ()
        if self._tagger is not None and versions != self._models_mark:
            models, theme = (
                load_models(db, [t.slug for t in self._tagger.topics]) if versions else ({}, None)
            )
            self._tagger.learned, self._tagger.theme = models, theme
            self._models_mark = versions

    def _build_index(self, db: Db) -> None:
        started = time.perf_counter()
        index, vectors = load_index(
            self.settings,
            db,
            self.embedder.model_name,
            self.lead_embedder,
            self.load_texts,
            self.watched_in,
        )
        self._index = index
        # A loaded file counts as a save of what it held; a rebuilt index is saved next time.
        self._saved_at = time.monotonic() if vectors is not None else None
        self._saved_version = (id(vectors), vectors.version) if vectors is not None else ()
        if len(index) > 1000 or vectors is not None:
            log.info(
                "dedup index: %d articles loaded in %.1f s (chunk vectors %s)",
                len(index),
                time.perf_counter() - started,
                "from the saved index" if vectors is not None else "from the warehouse",
            )

    @property
    def lead_embedder(self) -> LeadEmbedder | None:
        """The multilingual lead embedder, or None when cross-lingual linking is off."""
        if self._leads is None:
            self._leads = make_lead_embedder(self.settings)
        return self._leads[0]

    @property
    def lead_state(self) -> LeadModelState:
        """Whether cross-lingual linking is on, and the line `status` shows about it."""
        self.lead_embedder  # noqa: B018
        return self._leads[1]

    @property
    def lead_state_known(self) -> LeadModelState | None:
        """The lead model's state if it was loaded already, else None (loading takes seconds)."""
        return self._leads[1] if self._leads is not None else None

    def save_vectors(self, force: bool = False) -> bool:
        """Persist the chunk vector index beside the warehouse if it changed and the last save is
        [dedup] vector_index_save_s old (or `force`); call only when what it holds is stored."""
        paths = vector_paths(self.settings)
        vectors = self._index.vectors if self._index is not None else None
        if paths is None or vectors is None or not vectors.approximate:
            return False
        if self._saved_version == (id(vectors), vectors.version):
            return False
        if (
            not force
            and self._saved_at is not None
            and time.monotonic() - self._saved_at < self.settings.dedup.vector_index_save_s
        ):
            return False
        if not _write_vectors(vectors, paths, self.embedder.model_name):
            return False
        self._saved_at = time.monotonic()
        self._saved_version = (id(vectors), vectors.version)
        return True

    def refresh_config(self) -> None:
        """Reload the watchlist and the alert rules if their files changed (by mtime)."""
        mark = watchlist_mark(self.settings.watchlist.file)
        if self._watchlist is None or mark != self._watchlist_mark:
            self._watchlist = load_watchlist(self.settings.watchlist.file)
            self._watchlist_mark = mark
            self._alerts = None  # rules are checked against the watchlist's names
        topics = {t.slug for t in self._tagger.topics} if self._tagger is not None else None
        searches = self.settings.search.file
        mark = (
            alerts_mark(self.settings.alerts.file, searches),
            self._watchlist_mark,
            tuple(sorted(topics or ())),
            self.search_matcher is not None,
        )
        if self._alerts is None or mark != self._alerts_mark:
            self._alerts = load_alert_config(
                self.settings.alerts.file,
                self._watchlist,
                topics=topics,
                search_ready=self.search_matcher is not None,
                searches_file=searches,
            )
            self._alerts_mark = mark

    def use_tagger(self, tagger: Tagger) -> None:
        """Tag with this tagger until the next refresh notices a change (new seeds)."""
        self._tagger = tagger
        self._tagger_mark = ()
        self._models_mark = None

    def watched_in(self, text: str) -> list[str]:
        """The watched entities a text names (story evidence across languages counts them)."""
        watchlist = self.watchlist
        return [watchlist.entities[k].name for k, *_ in watchlist.find(text)]

    def load_texts(self, ids: Sequence[int]) -> dict[int, str]:
        """Stored texts of articles the index no longer keeps in memory."""
        with self.warehouse.connect(read_only=True) as db:
            return article_store.texts(db, ids)

    def forget(self, ids: Sequence[int]) -> None:
        """Drop articles from the in-memory index (a batch that was not written)."""
        if self._index is not None:
            self._index.remove(ids)

    def reset(self) -> None:
        """Drop all state; the next refresh rebuilds it from the warehouse."""
        self._index = None
        self._tagger = None
        self._tagger_mark = ()
        self._watchlist = None
        self._alerts = None

    @property
    def extractor(self) -> Extractor:
        """Where article pages are extracted: worker processes shared by this process's cycles."""
        return shared_extractor(self.settings.ingest.extract_workers)

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

    @property
    def watchlist(self) -> Watchlist:
        """The watchlist (loaded on first use, reloaded by refresh when its file changes)."""
        if self._watchlist is None:
            self.refresh_config()
        assert self._watchlist is not None
        return self._watchlist

    @property
    def alert_config(self) -> Any:
        """The alert rules and channels (an AlertConfig; reloaded by refresh on a change)."""
        if self._alerts is None:
            self.refresh_config()
        return self._alerts
