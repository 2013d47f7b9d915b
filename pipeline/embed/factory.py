"""The one place that builds long-lived objects from settings: the warehouse and the embedders."""

from __future__ import annotations

import threading
from pathlib import Path

from pipeline.config.settings import Settings
from pipeline.embed.english import Embedder
from pipeline.embed.model_files import default_cache_dir
from pipeline.embed.multilingual import LeadEmbedder, LeadModelState, load_lead_embedder
from pipeline.store.db import Warehouse


def make_warehouse(settings: Settings, *, stop: threading.Event | None = None) -> Warehouse:
    """The warehouse the settings name (`stop`: a daemon's shutdown event ends busy waits)."""
    w = settings.warehouse
    return Warehouse(w.path, busy_timeout_s=w.busy_timeout_s, stop=stop)


def model_cache_dir(settings: Settings) -> Path:
    """Where exported graphs and other derived model files are kept: [embed] cache_dir, else the
    per-user cache folder (one export per machine, whatever the warehouse)."""
    e = settings.embed
    return Path(e.cache_dir) if e.cache_dir else default_cache_dir()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings describe (the model loads on first use)."""
    e = settings.embed
    cache = model_cache_dir(settings)
    return Embedder(
        e.model,
        e.sha256,
        batch_size=e.batch_size,
        overlap_tokens=e.chunk_overlap_tokens,
        device=e.device,
        max_chunks=e.max_chunks,
        backend=e.backend,
        precision=e.precision,
        cache_dir=cache,
        threads=e.threads,
    )


def make_lead_embedder(settings: Settings) -> tuple[LeadEmbedder | None, LeadModelState]:
    """The multilingual lead embedder and its state line (None when off: see embed_multi)."""
    return load_lead_embedder(
        settings.embed.multilingual, settings.embed.threads, model_cache_dir(settings)
    )
