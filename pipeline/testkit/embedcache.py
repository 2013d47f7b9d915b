"""Embeddings of benchmark texts cached on disk by text hash (model runs only on new texts)."""

from __future__ import annotations

import hashlib

import numpy as np

from pipeline.embed import Embedder
from pipeline.testkit import REPO

CACHE = REPO / "bench" / "out" / "embeddings"


def embed_cached(embedder: Embedder, texts: list[str]):
    """Embeddings of texts, cached on disk by text hash."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for t in texts:
        key = hashlib.sha256(t.encode()).hexdigest()[:32]
        path = CACHE / f"{key}.npz"
        if path.exists():
            data = np.load(path)
            out[t] = (data["vector"], data["chunks"])
        else:
            todo.append((t, path))
    if todo:
        embs = embedder.embed([t for t, _ in todo])
        for (t, path), e in zip(todo, embs):
            chunks = np.stack([c.vector for c in e.chunks])
            np.savez(path, vector=e.vector, chunks=chunks)
            out[t] = (e.vector, chunks)
    return out
