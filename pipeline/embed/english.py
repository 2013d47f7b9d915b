"""Text embeddings: the only module that imports sentence_transformers (lazily, on first use).

A sentence-transformers model reads at most `max_seq_length` word pieces (256 for the default
all-MiniLM-L6-v2) and silently drops the rest. So a text is split into overlapping windows of
word pieces, each window is embedded on its own (the chunk vectors are kept: tagging and
containment checks need them), and the article vector is their mean weighted by each chunk's
number of word pieces, L2-normalised again. For a text that fits one window the article vector
is exactly the model's vector of the whole text.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pipeline.config.sections.vectors import EmbedSettings
from pipeline.embed.model_files import (
    DEFAULT_MODEL_SHA256,
    default_cache_dir,
    file_sha256,
    max_seq_length,
    packaged_model_dir,
    pooling_mode,
    verify_weights,
)
from pipeline.embed.precision import backend_precision, stored_name
from pipeline.errors import ModelError
from pipeline.models import Chunk, Embedding, Span

if TYPE_CHECKING:
    from pipeline.embed.onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

#: Name of the packaged default model (stored with its vectors, with their precision).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The shipped [embed] settings: an embedder made without them runs as `newswatch` does.
_SHIPPED = EmbedSettings()


def pool(vectors: np.ndarray, weights: Sequence[int]) -> np.ndarray:
    """Token-weighted mean of unit chunk vectors, L2-normalised (the article vector)."""
    w = np.asarray(weights, dtype=np.float32)
    if w.sum() <= 0:
        w = np.ones_like(w)
    mean = (vectors * w[:, None]).sum(axis=0) / w.sum()
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def window_spans(
    offsets: Sequence[tuple[int, int]], window: int, overlap: int, text_len: int
) -> list[Span]:
    """Split word-piece offsets into overlapping windows of at most `window` pieces."""
    n = len(offsets)
    if n == 0:
        return [Span(0, text_len, 0)]
    stride = max(1, window - max(0, min(overlap, window - 1)))
    spans = []
    start = 0
    while True:
        end = min(start + window, n)
        spans.append(Span(offsets[start][0], offsets[end - 1][1], end - start))
        if end >= n:
            break
        start += stride
    return spans


class _Backend(Protocol):
    """What the embedder asks of a backend (torch, or ONNX Runtime: onnx_encoder.py)."""

    name: str
    dim: int
    max_seq_length: int
    batch_size: int

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of the text's word pieces (no special tokens, no truncation)."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 vectors, each text read up to the model's limit."""
        ...


class _TorchBackend:
    """The sentence-transformers model (torch): the reference every other backend matches."""

    name = "torch"

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_seq_length = int(model.max_seq_length)
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dim = int(getter())

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of the text's word pieces (no special tokens, no truncation)."""
        enc = self.model.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        return [(int(start), int(end)) for start, end in enc["offset_mapping"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 vectors of short texts (each read up to the model's limit)."""
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Loads the configured model once and turns texts into chunk and article vectors.

    `backend` "onnx" runs the forward pass with ONNX Runtime (pipeline/embed/onnx_encoder.py; the
    graph is exported once per machine from the verified weights by onnx_export.py, cached in
    `cache_dir`, the per-user cache folder unless given, and checked against torch by
    onnx_cache.py), in `precision` int8 or fp32; it falls back to "torch" (sentence-transformers),
    with a warning, when onnxruntime is missing, the model is not a local folder with a
    `tokenizer.json`, the device is not the CPU, or the export fails its parity check.
    Tokenisation, windows and pooling are the same for both. `threads`: intra-op threads of
    either backend (0: one per core). Defaults are the shipped [embed] settings'."""

    def __init__(
        self,
        model: str = "",
        sha256: str = "",
        *,
        batch_size: int = _SHIPPED.batch_size,
        overlap_tokens: int = _SHIPPED.chunk_overlap_tokens,
        device: str = _SHIPPED.device,
        max_chunks: int = _SHIPPED.max_chunks,
        backend: str = _SHIPPED.backend,
        precision: str = _SHIPPED.precision,
        cache_dir: Path | None = None,
        threads: int = _SHIPPED.threads,
    ) -> None:
        self.model_spec = model
        self.sha256 = sha256
        self.batch_size = batch_size
        self.overlap_tokens = overlap_tokens
        self.max_chunks = max_chunks
        self.device = device
        self.backend = backend
        self.precision = precision
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.threads = threads
        self._model: _Backend | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The model's name: vectors stored under it, at either precision, are comparable."""
        return self.model_spec or DEFAULT_MODEL_NAME

    @property
    def precision_name(self) -> str:
        """The precision of the vectors actually made: "fp32" or "int8" (loads the model)."""
        return backend_precision(self.backend_name)

    @property
    def stored_model_name(self) -> str:
        """The name stored with each vector: the model's and the precision's (loads the model)."""
        return stored_name(self.model_name, self.precision_name)

    @property
    def backend_name(self) -> str:
        """The backend actually in use: "torch", "onnx-fp32" or "onnx-int8" (loads the model)."""
        return self._load().name

    def _load(self) -> _Backend:
        with self._lock:
            if self._model is not None:
                return self._model
            local, target, weights_sha = self._locate()
            if self.backend == "onnx":
                self._model = self._load_onnx(local, target, weights_sha)
            if self._model is None:
                self._model = self._load_torch(target)
            log.info("embedding model %s: %s backend", self.model_name, self._model.name)
            return self._model

    def _locate(self) -> tuple[Path | None, str, str | None]:
        """The model's local folder (None: a name for sentence-transformers to resolve), what
        to load, and the weights' SHA-256 once verified."""
        if self.model_spec:
            target = self.model_spec
            local = Path(target).expanduser()
            if self.sha256:
                if not local.is_dir():
                    raise ModelError(
                        f"[embed] sha256 is set but {target!r} is not a local "
                        f"model folder to verify"
                    )
                verify_weights(local, self.sha256)
                return local.resolve(), str(local.resolve()), self.sha256
            if local.is_dir():
                return local.resolve(), str(local.resolve()), None
            return None, target, None
        # The packaged model must load with no network access at all.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        local = packaged_model_dir()
        expected = self.sha256 or DEFAULT_MODEL_SHA256
        verify_weights(local, expected)
        return local, str(local), expected

    def _load_onnx(
        self, local: Path | None, target: str, weights_sha: str | None
    ) -> OnnxEncoder | None:
        """The ONNX backend, or None (and why, logged) to stay on torch."""
        why = None
        if self.device != "cpu":
            why = f"device {self.device!r} (ONNX Runtime runs on the CPU here)"
        elif (
            local is None
            or not (local / "tokenizer.json").is_file()
            or not (local / "model.safetensors").is_file()
        ):
            why = (
                f"{target!r} is not a local model folder with tokenizer.json and model.safetensors"
            )
        elif pooling_mode(local) != "mean":
            why = f"{target!r} pools by {pooling_mode(local)}, the ONNX graph by mean"
        else:
            try:
                import onnxruntime  # noqa: F401  # heavy: loads only with the ONNX backend
            except ImportError:
                why = "onnxruntime is not installed"
        if why:
            log.warning("[embed] backend = onnx: %s; embedding with torch", why)
            return None
        assert local is not None  # checked above
        # The ONNX backend's modules (~10 ms) load only when it is used, not at CLI start.
        from pipeline.embed.onnx_cache import load_or_build

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        reference: list = []

        def torch_vectors(texts: Sequence[str]) -> np.ndarray:
            if not reference:
                reference.append(self._load_torch(target))
            return reference[0].encode(texts)

        encoder = load_or_build(
            local,
            weights_sha or file_sha256(local / "model.safetensors"),
            self.precision,
            self.cache_dir,
            torch_vectors,
            max_seq_length=max_seq_length(local),
            batch_size=self.batch_size,
            threads=self.threads,
        )
        reference.clear()  # the torch model was needed for the parity check only
        return encoder

    def _load_torch(self, target: str) -> _TorchBackend:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:  # heavy: transformers, torch and sentence-transformers load only with the model
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads > 0:
                torch.set_num_threads(self.threads)
            model = SentenceTransformer(target, device=self.device)
        except ModelError:
            raise
        except Exception as exc:  # the library raises many kinds; the user needs one line
            raise ModelError(
                f"cannot load embedding model {self.model_name!r}: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        log.debug("loaded embedding model %s from %s", self.model_name, target)
        return _TorchBackend(model, self.batch_size)

    @property
    def chunks_per_call(self) -> int:
        """Chunks one model call encodes (one at int8: pipeline/embed/precision.py; loads it)."""
        return self._load().batch_size

    @property
    def dim(self) -> int:
        """Vector dimension of the model."""
        return self._load().dim

    @property
    def window(self) -> int:
        """Word pieces per chunk: the model's limit less the two special tokens."""
        return max(8, self._load().max_seq_length - 2)

    def spans(self, text: str) -> list[Span]:
        """The overlapping windows a text is embedded as."""
        return window_spans(self._load().offsets(text), self.window, self.overlap_tokens, len(text))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 vectors of short texts (each read up to the model's limit)."""
        backend = self._load()
        if not texts:
            return np.zeros((0, backend.dim), dtype=np.float32)
        return backend.encode(texts)

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        """Chunk, encode in batches and pool each text; `progress(n)` after each text's chunks.

        A text longer than `max_chunks` windows is embedded by its first windows only: a news
        article says what it is about first, and one huge page must not hold a cycle for
        minutes (a 1.5 MB page is 1,515 windows, about 70 s of this CPU)."""
        windows = [self.spans(text) for text in texts]
        all_spans = [spans[: self.max_chunks] for spans in windows]
        pieces = [
            text[s.start_char : s.end_char]
            for text, spans in zip(texts, all_spans, strict=True)
            for s in spans
        ]
        vectors = self.encode(pieces) if pieces else np.zeros((0, 0), dtype=np.float32)
        stored = self.stored_model_name
        out: list[Embedding] = []
        pos = 0
        for spans, whole in zip(all_spans, windows, strict=True):
            block = vectors[pos : pos + len(spans)]
            pos += len(spans)
            chunks = tuple(
                Chunk(s.start_char, s.end_char, s.tokens, block[i].copy())
                for i, s in enumerate(spans)
            )
            out.append(
                Embedding(
                    stored,
                    pool(block, [s.tokens for s in spans]),
                    chunks,
                    windows=len(whole),
                )
            )
            if progress is not None:
                progress(1)
        return out
