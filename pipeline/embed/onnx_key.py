"""What an exported ONNX graph depends on, as the key of its cache entry
(pipeline/embed/onnx_cache.py): the weights, the precision, the int8 range this CPU needs, the
versions of the libraries that export and run it, and the export recipe."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.embed.onnx_export import OPSET

#: Bump when the export recipe changes: every older cache entry becomes stale and is rebuilt.
RECIPE = 1


@dataclass(frozen=True)
class CacheKey:
    """Everything an exported graph depends on; a change in any of it makes a new entry."""

    model_sha256: str
    precision: str
    reduce_range: bool
    torch: str
    onnx: str
    onnxruntime: str
    transformers: str = ""
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
        transformers=ver("transformers"),
    )
