"""The ONNX backend's graph, loaded from a verified cache entry or exported, checked against the
torch path and cached (`load_or_build`, the one entry point pipeline/embed/english.py calls).

A cache entry is a folder holding `model.onnx` and `manifest.json`. The folder's name is a digest
of everything the graph depends on (weights' SHA-256, precision, torch/onnx/onnxruntime versions,
the recipe below); the manifest repeats that key, the graph's own SHA-256 and the parity figures.
An entry whose manifest does not match, whose graph does not hash to the manifest or that cannot
be read is rebuilt, never used; the graph is hashed from the very bytes handed to onnxruntime.
A new entry is made in a temporary folder and renamed into place, so a crash or a second process
building at the same time leaves no half-written entry.

Before an entry is stored its vectors are compared with the torch path's on probe texts (the
parity check); the figures go into the manifest, and a graph below the required cosine is not
used: the embedder stays on torch, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from pipeline.embed.onnx_encoder import OnnxEncoder
from pipeline.embed.onnx_export import OPSET, OnnxExportError, export_graph

log = logging.getLogger(__name__)

#: Bump when the export recipe changes: every older cache entry becomes stale and is rebuilt.
RECIPE = 1
#: Folder of ONNX entries inside the cache folder.
CACHE_SUBDIR = "onnx"
#: Smallest cosine to the torch vector on the probe texts that a graph must reach to be used:
#: fp32 is the same computation (measured: 1.000000); int8 loses precision by design (measured
#: 0.969 on the one-letter probe, 0.988 mean), so its check catches a broken export, not drift:
#: whether drift changes decisions is bench/embed_parity.py's question.
PARITY_MIN_COSINE = {"fp32": 0.9999, "int8": 0.95}

#: Probe texts of the parity check: news-like English of one and of several windows (a text
#: longer than the model reads is cut, as in the torch path), other scripts, odd characters.
PROBES = (
    "US Treasury sanctions a Chinese satellite firm for supplying imagery to Wagner forces.",
    "Kosmicheskaya razvedka: Роскосмос и китайские компании обмениваются спутниковыми снимками.",
    "美国财政部对一家向俄罗斯提供卫星图像的中国公司实施制裁。",
    "Die Bundesanwaltschaft hat einen Mann wegen Spionage für einen fremden "
    "Geheimdienst angeklagt.",
    "x",
    "Q3 revenue rose 4.5% to $1,234,567 (see https://example.org/report?id=42#p3) — ½ ﬁ ✓ 😀",
    " ".join(
        "The Commerce Department added the company to the Entity List after investigators found "
        "that its synthetic aperture radar images of Ukrainian positions were passed to a "
        "private military company; officials said the case shows how commercial space data has "
        "become part of the war, and that further designations are likely this year."
        for _ in range(4)
    ),
)


@dataclass(frozen=True)
class CacheKey:
    """Everything an exported graph depends on; a change in any of it makes a new entry."""

    model_sha256: str
    precision: str
    reduce_range: bool
    torch: str
    onnx: str
    onnxruntime: str
    recipe: int = RECIPE
    opset: int = OPSET

    @property
    def folder(self) -> str:
        """The entry's folder name: model, precision and a digest of the whole key."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{self.model_sha256[:12]}-{self.precision}-{digest[:16]}"


def cpu_has_vnni() -> bool:
    """Whether this CPU has the VNNI int8 dot-product instructions (Linux /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False  # unknown: reduced range is correct everywhere, only slightly less precise
    return any(flag in flags.split() for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def cache_key(model_sha256: str, precision: str) -> CacheKey:
    """The key of the graph for these weights and precision with the installed libraries."""

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    return CacheKey(
        model_sha256=model_sha256,
        precision=precision,
        reduce_range=precision == "int8" and not cpu_has_vnni(),
        torch=ver("torch"),
        onnx=ver("onnx"),
        onnxruntime=ver("onnxruntime"),
    )


def entry_dir(cache_dir: Path, key: CacheKey) -> Path:
    """Where the entry for `key` lives."""
    return cache_dir / CACHE_SUBDIR / key.folder


def read_entry(folder: Path, key: CacheKey) -> tuple[bytes | None, dict, str | None]:
    """An entry's verified graph bytes and manifest, or None and why it cannot be used."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, {}, "missing"
    except (OSError, ValueError) as exc:
        return None, {}, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict) or manifest.get("key") != asdict(key):
        return None, {}, "stale (built for other weights or library versions)"
    if not isinstance(manifest.get("parity"), dict) or not isinstance(
        manifest["parity"].get("min"), (int, float)
    ):
        return None, {}, "without parity figures"
    try:
        graph = (folder / "model.onnx").read_bytes()
    except OSError as exc:
        return None, {}, f"unreadable graph ({exc})"
    actual = hashlib.sha256(graph).hexdigest()
    if actual != manifest.get("sha256"):
        return (
            None,
            {},
            f"corrupt (graph SHA-256 {actual[:12]}..., manifest says "
            f"{str(manifest.get('sha256'))[:12]}...)",
        )
    return graph, manifest, None


def write_entry(cache_dir: Path, key: CacheKey, graph: bytes, manifest: dict) -> Path:
    """Store an entry atomically (temporary folder renamed into place); returns its folder."""
    root = cache_dir / CACHE_SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / key.folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{key.folder}.", dir=root))
    try:
        if graph:
            (tmp / "model.onnx").write_bytes(graph)
        body = dict(manifest, key=asdict(key), sha256=hashlib.sha256(graph).hexdigest())
        (tmp / "manifest.json").write_text(
            json.dumps(body, indent=2, sort_keys=True), encoding="utf-8"
        )
        if final.exists():  # an entry found corrupt or stale: moved aside, then removed
            trash = Path(tempfile.mkdtemp(prefix=f".{key.folder}.old.", dir=root))
            os.replace(final, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process stored the same entry meanwhile: theirs is as good as ours.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, key)
    return final


def _prune(root: Path, key: CacheKey) -> None:
    """Remove entries of the same model and precision made for another key (stale)."""
    prefix = f"{key.model_sha256[:12]}-{key.precision}-"
    for other in root.iterdir():
        if other.name.startswith(prefix) and other.name != key.folder and other.is_dir():
            log.info("removing stale ONNX cache entry %s", other)
            shutil.rmtree(other, ignore_errors=True)


def parity(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and minimum cosine of unit vectors to their reference vectors."""
    cos = np.sum(vectors * reference, axis=1)
    return float(cos.mean()), float(cos.min())


def load_or_build(
    model_dir: Path,
    model_sha256: str,
    precision: str,
    cache_dir: Path | None,
    reference: Callable[[Sequence[str]], np.ndarray],
    *,
    max_seq_length: int,
    batch_size: int,
    threads: int,
) -> OnnxEncoder | None:
    """The encoder for this model and precision from the cache, exported and checked first if
    the cache has no valid entry. None (with a warning) when the export fails or its vectors
    differ from the torch path's: the caller stays on torch."""
    key = cache_key(model_sha256, precision)

    def encoder(graph: bytes) -> OnnxEncoder:
        return OnnxEncoder(
            graph,
            model_dir,
            max_seq_length=max_seq_length,
            batch_size=batch_size,
            threads=threads,
            name=f"onnx-{precision}",
        )

    graph, low = (
        _from_cache(entry_dir(cache_dir, key), key) if cache_dir is not None else (None, 0.0)
    )
    enc = None
    if graph is None:
        built = _build(model_dir, key, cache_dir, reference, encoder)
        if built is None:
            return None
        enc, graph, low = built
    required = PARITY_MIN_COSINE[precision]
    if low < required:
        log.warning(
            "the ONNX %s graph differs from torch (minimum cosine %.4f on the parity "
            "probes, %.4f required); embedding with torch",
            precision,
            low,
            required,
        )
        return None
    return enc or encoder(graph)


def _from_cache(folder: Path, key: CacheKey) -> tuple[bytes | None, float]:
    """A cached graph and its minimum parity cosine, or None (a broken entry is logged)."""
    graph, manifest, problem = read_entry(folder, key)
    if graph is not None:
        log.debug("ONNX graph from cache %s", folder)
        return graph, float(manifest["parity"]["min"])
    if problem != "missing":
        log.warning("ONNX cache entry %s is %s: rebuilding it", folder, problem)
    return None, 0.0


def _build(
    model_dir: Path,
    key: CacheKey,
    cache_dir: Path | None,
    reference: Callable[[Sequence[str]], np.ndarray],
    encoder: Callable[[bytes], OnnxEncoder],
) -> tuple[OnnxEncoder, bytes, float] | None:
    """Export the graph (int8 from the cached fp32 graph when there is one), check it against
    the torch path on the probes and cache it; None (with a warning) when the export fails."""
    started = time.perf_counter()
    fp32 = None
    if key.precision == "int8" and cache_dir is not None:
        fp32_key = cache_key(key.model_sha256, "fp32")
        fp32 = read_entry(entry_dir(cache_dir, fp32_key), fp32_key)[0]
    try:
        graph = export_graph(model_dir, key.precision, key.reduce_range, fp32)
    except OnnxExportError as exc:
        log.warning("cannot export the embedding model to ONNX (%s); embedding with torch", exc)
        return None
    enc = encoder(graph)
    mean, low = parity(enc.encode(PROBES), reference(PROBES))
    log.info(
        "exported the embedding model to ONNX (%s) in %.1f s; cosine to torch on %d "
        "probes: mean %.6f, min %.6f",
        key.precision,
        time.perf_counter() - started,
        len(PROBES),
        mean,
        low,
    )
    if cache_dir is not None:
        # Stored even when it fails the check: the figures are kept with it, and the check is
        # made against the threshold of the code that loads it.
        parity_figures = {"mean": round(mean, 6), "min": round(low, 6)}
        try:
            write_entry(
                cache_dir, key, graph, {"parity": parity_figures, "model_dir": str(model_dir)}
            )
        except OSError as exc:
            log.warning(
                "cannot cache the ONNX graph in %s (%s); it will be exported again next time",
                cache_dir,
                exc,
            )
    return enc, graph, low
