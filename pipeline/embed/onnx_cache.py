"""The ONNX backend's graph, loaded from a verified cache entry or exported, checked against the
torch path and cached (`load_or_build`, the one entry point pipeline/embed/english.py calls).

The cache is per user (pipeline/embed/model_files.py: `default_cache_dir`, or [embed] cache_dir),
so a machine exports the graph once, whatever the warehouse, benchmark or test. An entry is a
folder holding `model.onnx` and `manifest.json`; the folder's name is a digest of everything the
graph depends on (weights' SHA-256, precision, the torch/transformers/onnx/onnxruntime versions,
the export recipe: pipeline/embed/onnx_key.py), and the manifest repeats that key, the graph's
own SHA-256 and the parity figures. An entry whose manifest does not match, whose graph does not
hash to the manifest or that cannot be read is rebuilt, never used; the graph is hashed from the
very bytes handed to onnxruntime. An entry is built under a lock of its own (`<entry>.lock`): a
second process wanting it waits and reads the first one's entry instead of exporting too. It is
written in a temporary folder and renamed into place, so a process that dies midway leaves no
half-written entry.

The int8 graph is quantized from the fp32 entry, which is exported (and cached) first if
missing: one torch export per machine serves both precisions.

Before an entry is stored its vectors are compared with the torch path's on probe texts (the
parity check); the figures go into the manifest, and a graph below the required cosine is not
used: the embedder stays on torch, with a warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.embed.onnx_encoder import OnnxEncoder
from pipeline.embed.onnx_export import OnnxExportError, export_fp32, quantize_int8
from pipeline.embed.onnx_key import RECIPE, CacheKey, cache_key, cpu_has_vnni
from pipeline.embed.precision import chunks_per_call

__all__ = [
    "CACHE_SUBDIR",
    "ORPHAN_AFTER_S",
    "PARITY_MIN_COSINE",
    "PROBES",
    "RECIPE",
    "STALE_AFTER_S",
    "CacheKey",
    "cache_key",
    "cached_entry",
    "cpu_has_vnni",
    "entry_dir",
    "entry_lock",
    "load_or_build",
    "lock_path",
    "parity",
    "read_entry",
    "write_entry",
]

log = logging.getLogger(__name__)

#: Folder of ONNX entries inside the cache folder.
CACHE_SUBDIR = "onnx"
#: An entry made for other library versions (another virtualenv on the same machine) is removed
#: when a new entry of the same model and precision is stored, once unread for this long: two
#: environments sharing the cache must not delete each other's graph on every start.
STALE_AFTER_S = 30 * 86400
#: A temporary folder a writer left behind (it died midway) is removed after this long.
ORPHAN_AFTER_S = 3600
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
    """Remove entries of the same model and precision made for another key and unread for
    STALE_AFTER_S, and temporary folders of writers that died."""
    prefix = f"{key.model_sha256[:12]}-{key.precision}-"
    now = time.time()
    for other in root.iterdir():
        try:
            age = now - other.stat().st_mtime
        except OSError:
            continue  # removed meanwhile
        if not other.is_dir() or other.name == key.folder:
            continue
        if other.name.startswith(prefix) and age > STALE_AFTER_S:
            log.info("removing stale ONNX cache entry %s", other)
            shutil.rmtree(other, ignore_errors=True)
            other.with_name(f"{other.name}.lock").unlink(missing_ok=True)
        elif other.name.startswith(".") and age > ORPHAN_AFTER_S:
            shutil.rmtree(other, ignore_errors=True)


@contextmanager
def entry_lock(cache_dir: Path, key: CacheKey) -> Iterator[None]:
    """Hold the lock of one entry: whoever builds it holds it, the others wait for the entry.
    An unwritable cache folder has no lock: the build goes on (and is not stored)."""
    root = cache_dir / CACHE_SUBDIR
    fd = None
    with suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(cache_dir, key), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process building ONNX cache entry %s", key.folder)
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def lock_path(cache_dir: Path, key: CacheKey) -> Path:
    """The lock file of `key`'s entry (beside it: the entry folder itself is replaced whole)."""
    return cache_dir / CACHE_SUBDIR / f"{key.folder}.lock"


def cached_entry(
    cache_dir: Path | None, key: CacheKey, build: Callable[[], tuple[bytes, dict] | None]
) -> tuple[bytes, dict] | None:
    """The graph and manifest of `key`'s entry: from the cache when valid, else made by `build`
    (graph bytes and manifest, None when it cannot be made) under the entry's lock and stored.
    Without a cache folder, `build` alone."""
    if cache_dir is None:
        return build()
    folder = entry_dir(cache_dir, key)
    graph, manifest, problem = read_entry(folder, key)
    if graph is None:
        with entry_lock(cache_dir, key):
            # Another process may have stored it while this one waited for the lock.
            graph, manifest, problem = read_entry(folder, key)
            if graph is None:
                if problem != "missing":
                    log.warning("ONNX cache entry %s is %s: rebuilding it", folder, problem)
                built = build()
                if built is None:
                    return None
                graph, manifest = built
                try:
                    write_entry(cache_dir, key, graph, manifest)
                except OSError as exc:
                    log.warning(
                        "cannot cache the ONNX graph in %s (%s); it will be exported again "
                        "next time",
                        cache_dir,
                        exc,
                    )
                return graph, manifest
    log.debug("ONNX graph from cache %s", folder)
    with suppress(OSError):  # a read-only cache is still a cache
        os.utime(folder)  # read now: not stale (see _prune)
    return graph, manifest


def parity(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and minimum cosine of unit vectors to their reference vectors."""
    cos = np.sum(vectors * reference, axis=1)
    return float(cos.mean()), float(cos.min())


@dataclass
class _Builds:
    """How the graphs of one model are made when the cache has no valid entry: fp32 exported from
    the weights, int8 quantized from the fp32 entry (exported and cached first if missing), each
    checked against the torch path on the probes."""

    model_dir: Path
    cache_dir: Path | None
    reference: Callable[[Sequence[str]], np.ndarray]
    fp32_key: CacheKey
    reduce_range: bool
    max_seq_length: int
    batch_size: int
    threads: int
    #: The session each parity check made, by precision: the encoder used after, not a new one.
    checked: dict[str, OnnxEncoder] = field(default_factory=dict)

    def encoder(self, graph: bytes, of: str) -> OnnxEncoder:
        """A session of `graph` with the embedder's settings."""
        return OnnxEncoder(
            graph,
            self.model_dir,
            max_seq_length=self.max_seq_length,
            batch_size=chunks_per_call(of, self.batch_size),
            threads=self.threads,
            name=f"onnx-{of}",
        )

    def check(self, graph: bytes, of: str, started: float) -> tuple[bytes, dict]:
        """The graph with its parity figures against the torch path on the probes."""
        enc = self.checked[of] = self.encoder(graph, of)
        mean, low = parity(enc.encode(PROBES), self.reference(PROBES))
        log.info(
            "made the ONNX %s graph of the embedding model in %.1f s; cosine to torch on %d "
            "probes: mean %.6f, min %.6f",
            of,
            time.perf_counter() - started,
            len(PROBES),
            mean,
            low,
        )
        # Stored even when it fails the check: the figures are kept with it, and the check is
        # made against the threshold of the code that loads it.
        return graph, {
            "parity": {"mean": round(mean, 6), "min": round(low, 6)},
            "model_dir": str(self.model_dir),
        }

    def fp32(self) -> tuple[bytes, dict] | None:
        """The fp32 graph exported and checked (None, with a warning, when the export fails)."""
        started = time.perf_counter()
        try:
            graph = export_fp32(self.model_dir)
        except OnnxExportError as exc:
            log.warning("cannot export the embedding model to ONNX (%s); embedding with torch", exc)
            return None
        return self.check(graph, "fp32", started)

    def int8(self) -> tuple[bytes, dict] | None:
        """The int8 graph quantized from the fp32 entry and checked (None when either fails)."""
        fp32 = cached_entry(self.cache_dir, self.fp32_key, self.fp32)
        if fp32 is None:
            return None
        started = time.perf_counter()
        try:
            graph = quantize_int8(fp32[0], self.reduce_range)
        except OnnxExportError as exc:
            log.warning("cannot quantize the ONNX graph to int8 (%s); embedding with torch", exc)
            return None
        return self.check(graph, "int8", started)


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
    """The encoder for this model and precision from the cache, exported (int8: quantized from
    the fp32 entry, exported first if missing) and checked first if the cache has no valid
    entry. None (with a warning) when the export fails or its vectors differ from the torch
    path's: the caller stays on torch."""
    key = cache_key(model_sha256, precision)
    builds = _Builds(
        model_dir,
        cache_dir,
        reference,
        fp32_key=key if precision == "fp32" else cache_key(model_sha256, "fp32"),
        reduce_range=key.reduce_range,
        max_seq_length=max_seq_length,
        batch_size=batch_size,
        threads=threads,
    )
    got = cached_entry(cache_dir, key, builds.fp32 if precision == "fp32" else builds.int8)
    if got is None:
        return None
    graph, manifest = got
    low = float(manifest["parity"]["min"])
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
    return builds.checked.get(precision) or builds.encoder(graph, precision)
