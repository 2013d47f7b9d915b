"""The ONNX Runtime backend of the embedder: the model's forward pass, mean pooling and L2
normalisation as one ONNX graph, exported once from the verified weights and cached.

Only the forward pass changes. Tokenisation is the model's own `tokenizer.json` read by the
`tokenizers` library (the same fast tokenizer sentence-transformers wraps; word pieces and offsets
are identical), and windowing and chunk pooling stay in pipeline/embed/english.py.

The graph is made on this machine, from the packaged, hash-verified `model.safetensors`, by
torch's TorchScript-based ONNX exporter (`dynamo=False`: it needs nothing beyond torch, where the
newer exporter needs onnxscript), then fused by onnxruntime's transformer optimizer (attention,
layer norm and GELU as single kernels), and for `int8` quantized dynamically (signed per-channel
weights; reduced range on a CPU without VNNI, whose int8 instructions saturate otherwise). Nothing
is downloaded.

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Bump when the export recipe changes: every older cache entry becomes stale and is rebuilt.
RECIPE = 1
#: ONNX opset of the export (the TorchScript exporter supports up to 20).
OPSET = 17
#: Folder of ONNX entries inside the cache folder.
CACHE_SUBDIR = "onnx"
#: Smallest cosine to the torch vector on the probe texts that a graph must reach to be used:
#: fp32 is the same computation (measured: 1.000000); int8 loses precision by design (measured
#: 0.969 on the one-letter probe, 0.988 mean), so its check catches a broken export, not drift:
#: whether drift changes decisions is bench/embed_parity.py's question.
PARITY_MIN_COSINE = {"fp32": 0.9999, "int8": 0.95}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

#: Probe texts of the parity check: news-like English of one and of several windows (a text
#: longer than the model reads is cut, as in the torch path), other scripts, odd characters.
PROBES = (
    "US Treasury sanctions a Chinese satellite firm for supplying imagery to Wagner forces.",
    "Kosmicheskaya razvedka: Роскосмос и китайские компании обмениваются спутниковыми снимками.",
    "美国财政部对一家向俄罗斯提供卫星图像的中国公司实施制裁。",
    "Die Bundesanwaltschaft hat einen Mann wegen Spionage für einen fremden Geheimdienst angeklagt.",
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


class OnnxExportError(Exception):
    """The graph could not be exported, fused or quantized on this machine."""


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
    from importlib.metadata import PackageNotFoundError, version

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


class OnnxEncoder:
    """Unit-norm sentence vectors from an ONNX graph, tokenised exactly as the torch path does."""

    def __init__(
        self,
        graph: bytes,
        model_dir: Path,
        *,
        max_seq_length: int,
        batch_size: int,
        threads: int,
        name: str,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        tokenizer_file = model_dir / "tokenizer.json"
        # Two instances: truncation is a setting of the tokenizer object.
        self._splitter = Tokenizer.from_file(str(tokenizer_file))
        self._splitter.no_truncation()
        self._splitter.no_padding()
        self._batcher = Tokenizer.from_file(str(tokenizer_file))
        self._batcher.enable_truncation(max_seq_length)
        self._batcher.no_padding()  # each batch is padded to its own longest text below
        self.session = ort.InferenceSession(
            graph, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self.session.get_inputs()]
        self.dim = int(self.encode(["dimension"]).shape[1])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of the text's word pieces (no special tokens, no truncation)."""
        return [tuple(o) for o in self._splitter.encode(text, add_special_tokens=False).offsets]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 vectors, each text read up to the model's limit."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._batcher.encode_batch(texts)
        # Longest first, so a batch pads to lengths close to its own (as sentence-transformers
        # does, but by word pieces rather than characters).
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = len(encodings[idx[0]].ids)
            feeds = {name: np.zeros((len(idx), width), dtype=np.int64) for name in self._inputs}
            for row, i in enumerate(idx):
                enc = encodings[i]
                n = len(enc.ids)
                for name, values in (
                    ("input_ids", enc.ids),
                    ("attention_mask", enc.attention_mask),
                    ("token_type_ids", enc.type_ids),
                ):
                    if name in feeds:
                        feeds[name][row, :n] = values
            got = self.session.run(None, feeds)[0]
            if vectors is None:
                vectors = np.empty((len(texts), got.shape[1]), dtype=np.float32)
            vectors[idx] = got
        assert vectors is not None
        return vectors


def session_options(threads: int):
    """Session options: `threads` intra-op threads (0: one per core), no spinning, all graph
    optimisations. Why no spinning: see README "How it decides" (thread settings)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = max(0, threads)
    opts.inter_op_num_threads = 1
    # Idle worker threads would otherwise busy-wait for the next operator, taking the core the
    # extraction process and the event loop need between batches.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


# -- the cache ---------------------------------------------------------------------------------


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


# -- export ------------------------------------------------------------------------------------


def export_graph(
    model_dir: Path, precision: str, reduce_range: bool, fp32: bytes | None = None
) -> bytes:
    """Export (and fuse; quantize for int8) the model's forward pass + mean pooling +
    normalisation as ONNX bytes; int8 starts from `fp32` (a verified fp32 graph) when given.
    Raises OnnxExportError."""
    with tempfile.TemporaryDirectory(prefix="newswatch-onnx-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if fp32 is not None and precision == "int8":
                (tmp / "fp32.onnx").write_bytes(fp32)
            else:
                config = _export_fp32(model_dir, tmp / "raw.onnx")
                _fuse(tmp / "raw.onnx", tmp / "fp32.onnx", config)
            if precision == "int8":
                _quantize(tmp / "fp32.onnx", tmp / "int8.onnx", reduce_range)
                return (tmp / "int8.onnx").read_bytes()
            return (tmp / "fp32.onnx").read_bytes()
        except OnnxExportError:
            raise
        except Exception as exc:  # torch, transformers and onnx raise many kinds
            raise OnnxExportError(
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc


def _export_fp32(model_dir: Path, out: Path) -> dict:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # Eager attention traces to the plain MatMul/Softmax pattern that onnxruntime's optimizer
    # fuses into one Attention kernel; the SDPA trace is left unfused (a third slower here).
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class SentenceEncoder(torch.nn.Module):
        """sentence-transformers' Transformer -> Pooling(mean) -> Normalize, as one module."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # A batch with padding, so that nothing about lengths or masks is traced as a constant.
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    dynamic["sentence_embedding"] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notes, not problems
        torch.onnx.export(
            SentenceEncoder(model),
            (ids, mask, types),
            str(out),
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["sentence_embedding"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return model.config.to_dict()


def _fuse(src: Path, dst: Path, config: dict) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    # The optimizer's modules log every fusion at INFO under their own module names.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("onnx", "fusion", "bert")):
            logging.getLogger(name).setLevel(logging.ERROR)
    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
    )
    fused = optimized.get_fused_operator_statistics().get("Attention", 0)
    if fused < int(config.get("num_hidden_layers", 0)):
        log.warning(
            "ONNX export: %d of %s attention layers fused; the graph is correct but slower",
            fused,
            config.get("num_hidden_layers"),
        )
    optimized.save_model_to_file(str(dst))


def _quantize(src: Path, dst: Path, reduce_range: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs its advice on the root logger; it is meant for people tuning by hand.
    quiet = _DropFrom("onnxruntime")
    logging.root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            # The fused operators have no registered output types; they are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.root.removeFilter(quiet)


class _DropFrom(logging.Filter):
    """Drops records logged from a file under a given package folder."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self.part = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.part not in record.pathname


# -- load or build ---------------------------------------------------------------------------


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
    name = f"onnx-{precision}"

    def encoder(graph: bytes) -> OnnxEncoder:
        return OnnxEncoder(
            graph,
            model_dir,
            max_seq_length=max_seq_length,
            batch_size=batch_size,
            threads=threads,
            name=name,
        )

    required = PARITY_MIN_COSINE[precision]
    folder = entry_dir(cache_dir, key) if cache_dir is not None else None
    graph = None
    if folder is not None:
        graph, manifest, problem = read_entry(folder, key)
        if graph is not None:
            log.debug("ONNX graph from cache %s", folder)
            low = float(manifest["parity"]["min"])
        elif problem != "missing":
            log.warning("ONNX cache entry %s is %s: rebuilding it", folder, problem)
    enc = None
    if graph is None:
        started = time.perf_counter()
        fp32 = None
        if precision == "int8" and cache_dir is not None:
            fp32_key = cache_key(model_sha256, "fp32")
            fp32 = read_entry(entry_dir(cache_dir, fp32_key), fp32_key)[0]
        try:
            graph = export_graph(model_dir, precision, key.reduce_range, fp32)
        except OnnxExportError as exc:
            log.warning("cannot export the embedding model to ONNX (%s); embedding with torch", exc)
            return None
        enc = encoder(graph)
        mean, low = parity(enc.encode(PROBES), reference(PROBES))
        log.info(
            "exported the embedding model to ONNX (%s) in %.1f s; cosine to torch on %d "
            "probes: mean %.6f, min %.6f",
            precision,
            time.perf_counter() - started,
            len(PROBES),
            mean,
            low,
        )
        if folder is not None:
            # Stored even when it fails the check: the figures are kept with it, and the
            # check is made against the threshold of the code that loads it.
            try:
                write_entry(
                    cache_dir,
                    key,
                    graph,
                    {
                        "parity": {"mean": round(mean, 6), "min": round(low, 6)},
                        "model_dir": str(model_dir),
                    },
                )
            except OSError as exc:
                log.warning(
                    "cannot cache the ONNX graph in %s (%s); it will be exported again next time",
                    cache_dir,
                    exc,
                )
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
