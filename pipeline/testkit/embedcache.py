"""Embeddings of benchmark texts cached on disk by text and embedder (model runs only on new texts).

The key holds the backend actually used (torch, onnx-fp32, onnx-int8), the chunk overlap and the
chunk limit, so that figures of one backend are never computed from another's vectors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pipeline.config.settings import load_settings
from pipeline.embed.english import Embedder
from pipeline.embed.model_files import default_cache_dir
from pipeline.testkit import REPO

CACHE = REPO / "bench" / "out" / "embeddings"
#: The benchmarks' ONNX graph cache: the per-user one newswatch and the tests use (one export
#: per machine).
MODEL_CACHE = default_cache_dir()
#: Backends a benchmark can be asked for ("default": what the shipped settings choose).
BACKENDS = ("default", "torch", "onnx-fp32", "onnx-int8")


def resolve_backend(spec: str) -> str:
    """A backend spec with "default" replaced by what the shipped settings choose (torch,
    onnx-fp32 or onnx-int8), for caches keyed by backend."""
    if spec != "default":
        return spec
    e = load_settings(env={}).embed
    return "torch" if e.backend == "torch" else f"onnx-{e.precision}"


def bench_embedder(spec: str = "default", overlap: int | None = None) -> Embedder:
    """The embedder a benchmark runs: `spec` one of BACKENDS, the shipped [embed] settings else."""
    e = load_settings(env={}).embed
    backend, precision = (
        (e.backend, e.precision)
        if spec == "default"
        else (spec.partition("-")[0], spec.partition("-")[2] or "fp32")
    )
    return Embedder(
        e.model,
        e.sha256,
        batch_size=e.batch_size,
        overlap_tokens=e.chunk_overlap_tokens if overlap is None else overlap,
        max_chunks=e.max_chunks,
        backend=backend,
        precision=precision,
        cache_dir=MODEL_CACHE,
        threads=e.threads,
    )


def cache_tag(embedder: Embedder) -> str:
    """What the vectors depend on besides the text (the chunks per model call: int8's
    activations are quantized per call)."""
    return (
        f"{embedder.model_name}|{embedder.backend_name}|overlap {embedder.overlap_tokens}|"
        f"max {embedder.max_chunks}|batch {embedder.chunks_per_call}"
    )


def embed_cached(embedder: Embedder, texts: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Embeddings of texts, cached on disk by text and embedder."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = cache_tag(embedder)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    todo: list[tuple[str, Path]] = []
    for t in texts:
        key = hashlib.sha256(f"{tag}\n{t}".encode()).hexdigest()[:32]
        path = CACHE / f"{key}.npz"
        if path.exists():
            data = np.load(path)
            out[t] = (data["vector"], data["chunks"])
        else:
            todo.append((t, path))
    if todo:
        embs = embedder.embed([t for t, _ in todo])
        for (t, path), e in zip(todo, embs, strict=True):
            chunks = np.stack([c.vector for c in e.chunks])
            np.savez(path, vector=e.vector, chunks=chunks)
            out[t] = (e.vector, chunks)
    return out
