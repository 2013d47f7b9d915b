"""Story decisions replayed in-process over cached article vectors, for the story benchmark's
cross-validation and arrival schedules (bench/story_eval.py --cv, --schedule).

Every distinct text of the story pairs is ingested once by the real pipeline (fetch, extract,
embed: `[dedup] embed_copies` on, so each text has vectors of its own whatever the arrival order)
and what the dedup index reads of it (the stored text, language, content hash, chunk, headline and
lead vectors) is cached in bench/out/story-docs/. A replay then feeds those documents to a fresh
`DedupIndex` (the seeds first, as `sync_seeds` does) in an arrival order and on publication times
of its own, with the [dedup] settings asked for: the same decisions the pipeline makes (checked
against it by `story_eval.py --check-replay`), in seconds instead of an ingest.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from story_cycle import ROOT, Schedule, ingest

from pipeline.config.settings import DedupSettings, load_settings
from pipeline.dedup import crosslingual
from pipeline.dedup.index import DedupIndex
from pipeline.embed.precision import backend_precision, chunks_per_call
from pipeline.models import DedupDoc
from pipeline.store import articles as article_store
from pipeline.testkit.embedcache import resolve_backend
from pipeline.testkit.storypairs import StoryPair, pair_texts, text_key

DOCS_CACHE = ROOT / "bench" / "out" / "story-docs"
#: Articles decided together, at most (a cycle's batch).
BATCH = 64


@dataclass(frozen=True)
class Corpus:
    """What the dedup index reads of every text (by text key), the seeds, the lead anchors."""

    docs: dict[str, DedupDoc]
    titles: dict[str, str]
    seeds: list[DedupDoc]
    anchors: dict[str, np.ndarray] | None
    lead_model: str | None


def cache_path(pairs: Sequence[StoryPair], backend: str, multilingual: bool) -> Path:
    """The cached corpus of these pairs, keyed by the backend actually run ("default" is
    resolved: a change of the shipped precision must not reuse the other precision's vectors),
    and by the chunks per model call (int8 quantizes its activations per call)."""
    keys = sorted(text_key(t) for t, _ in pair_texts(pairs))
    resolved = resolve_backend(backend)
    per_call = chunks_per_call(backend_precision(resolved), load_settings(env={}).embed.batch_size)
    made_by = f"{resolved}|batch {per_call}"
    tag = hashlib.sha256("\n".join([made_by, str(multilingual), *keys]).encode()).hexdigest()[:16]
    return DOCS_CACHE / f"docs-{tag}.pkl"


def collect(pairs: Sequence[StoryPair], backend: str = "default") -> Corpus:
    """The corpus of the pairs' texts: from the cache, else by one real ingest (minutes)."""
    path = cache_path(pairs, backend, True)
    if path.exists():
        with path.open("rb") as fh:
            corpus: Corpus = pickle.load(fh)
        return corpus
    stored, services, _ = ingest(list(pairs), False, backend, ["embed_copies = true"])
    leads = services.lead_embedder
    with services.warehouse.connect(read_only=True) as db:
        rows = list(article_store.dedup_rows(db, lead_model=leads.name if leads else None))
        titles = article_store.titles(db, [doc.id for doc, _ in rows])
    by_id = {doc.id: doc for doc, _ in rows}
    key_of = {v[0]: k for k, v in stored.items()}
    corpus = Corpus(
        docs={key_of[i]: d for i, d in by_id.items() if i in key_of},
        titles={key_of[i]: titles.get(i, "") for i in by_id if i in key_of},
        seeds=[d for d in by_id.values() if d.is_seed],
        anchors=leads.anchors if leads is not None else None,
        lead_model=leads.name if leads is not None else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(corpus, fh)
    tmp.replace(path)
    return corpus


# -- replay ----------------------------------------------------------------------------------


@contextmanager
def module_constants(values: Mapping[str, Any]):
    """Module constants of pipeline/dedup/crosslingual.py set for a replay (the centering)."""
    old = {k: getattr(crosslingual, k) for k in values}
    try:
        for k, v in values.items():
            setattr(crosslingual, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(crosslingual, k, v)


def replay(
    corpus: Corpus,
    schedule: Schedule,
    settings: DedupSettings,
    constants: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """{text key: story id} after deciding the texts in the schedule's order into a fresh index
    (batches of at most `BATCH` texts of one publication day, as daily cycles would)."""
    with module_constants(constants or {}):
        index = DedupIndex(settings, lead_anchors=corpus.anchors)
        seeds = sorted(corpus.seeds, key=lambda d: d.id)
        index.decide(seeds)
        next_id = max((d.id for d in seeds), default=0) + 1
        ids: dict[str, int] = {}
        batch: list[DedupDoc] = []
        day = None
        for key, when in schedule:
            if key in ids or key not in corpus.docs:
                continue
            if batch and (when.date() != day or len(batch) >= BATCH):
                decide_as_a_cycle(index, batch)
                batch = []
            day = when.date()
            ids[key] = next_id
            batch.append(replace(corpus.docs[key], id=next_id, published_at=when))
            next_id += 1
        if batch:
            decide_as_a_cycle(index, batch)
        return {k: index.story_of(i) for k, i in ids.items()}


def decide_as_a_cycle(index: DedupIndex, batch: list[DedupDoc]) -> None:
    """Decide a batch as an ingest cycle does: the copies its text forecasts are decided
    without vectors (a cycle does not embed them), so an embedded copy does not lend its root
    the meaning of its own text; one that is not a copy after all gets its vectors then."""
    full = {d.id: d for d in batch}
    skip = index.likely_copies(batch)
    index.decide(
        [
            replace(
                d,
                vector=np.zeros(0, np.float32),
                chunk_vectors=np.zeros((0, 0), np.float32),
                title_vector=None,
                lead_vector=None,
            )
            if d.id in skip
            else d
            for d in batch
        ],
        lambda d: full[d.id],
    )


def seed_stories(corpus: Corpus, settings: DedupSettings) -> dict[int, int]:
    """{seed id: story id} of the seeds decided alone (as `init` loads them)."""
    index = DedupIndex(settings, lead_anchors=corpus.anchors)
    seeds = sorted(corpus.seeds, key=lambda d: d.id)
    index.decide(seeds)
    return {d.id: index.story_of(d.id) for d in seeds}


def joined(pairs: Sequence[StoryPair], stories: Mapping[str, int]) -> dict[str, bool]:
    """Whether each pair's two texts share a story."""
    out = {}
    for p in pairs:
        a, b = text_key(p.text1), text_key(p.text2)
        if a in stories and b in stories and a != b:
            out[p.pair_id] = stories[a] == stories[b]
    return out
