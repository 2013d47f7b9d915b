"""The chunk vector index on disk, beside the warehouse: the usearch graph file and a small JSON
saying what it holds (model, dimension, rows, highest article id, SHA-256 of the file, graph
parameters, and which file was written: its inode, size and modification time). A file that is
missing, fails its checksum, or was made for another model or dimension reads as None, and the
caller rebuilds from the stored chunk vectors.

The checksum is read only when the file is not the one the description was written with (a
copy, a file restored or written over): reading 6 GB of graph at 1,000,000 articles took the
first search of a process 9 to 32 seconds, and the file the ingest wrote and hashed is known by
its inode, size and modification time without reading it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

# The index's own messages: configured and filtered as the index's (pipeline/dedup/vectorindex.py).
log = logging.getLogger("pipeline.dedup.vectorindex")

_FORMAT = 1


def index_paths(warehouse: Path) -> tuple[Path, Path]:
    """The index file and its JSON description beside a warehouse file."""
    return (
        warehouse.with_name(warehouse.name + ".vectors.usearch"),
        warehouse.with_name(warehouse.name + ".vectors.json"),
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_graph(graph: Any, path: Path, info_path: Path, description: Mapping[str, Any]) -> None:
    """Write a graph and its description (model, dim, rows, max_owner, params), each
    atomically; the description gains the format and the file's checksum."""
    tmp = path.with_name(path.name + ".tmp")
    graph.save(str(tmp))
    digest = _file_sha256(tmp)
    os.replace(tmp, path)
    written = _identity(path)
    d = description
    described = {
        "format": _FORMAT,
        "model": d["model"],
        "dim": d["dim"],
        "rows": d["rows"],
        "max_owner": d["max_owner"],
        "sha256": digest,
        "file": written,
        "params": d["params"],
    }
    tmp_info = info_path.with_name(info_path.name + ".tmp")
    tmp_info.write_text(json.dumps(described, indent=1))
    os.replace(tmp_info, info_path)


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_described(path: Path, described: Mapping[str, Any]) -> bool:
    """Whether the graph file is the one its description vouches for: the file written with it
    (the same inode, size and modification time: nothing read), else by its SHA-256 (the
    whole file read)."""
    if described.get("file") == _identity(path):
        return True
    return _file_sha256(path) == described.get("sha256")


def read_description(info_path: Path) -> dict[str, Any] | None:
    """A saved graph's description as written, if it is JSON of this format with every field
    (None else); reads only, checks nothing against the graph file."""
    try:
        raw = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    fields = ("model", "dim", "rows", "max_owner", "sha256")
    if (
        not isinstance(raw, dict)
        or raw.get("format") != _FORMAT
        or not all(k in raw for k in fields)
    ):
        return None
    return raw


def read_graph(
    path: Path,
    info_path: Path,
    model: str,
    dim: int | None,
    exact_below: int,
    new_graph: Callable[[int, Mapping[str, Any]], Any],
) -> tuple[Any, dict[str, Any], np.ndarray] | None:
    """The persisted graph, its description and its keys, if it is whole and made for this
    model (and dimension, if given) and holds at least `exact_below` rows; else None (a WARNING
    says why, unless there is simply no file). `new_graph(dim, params)` makes an empty graph
    to load into (and raises TypeError for parameters it does not take)."""
    if not path.exists() or not info_path.exists():
        return None
    try:
        raw = json.loads(info_path.read_text())
        if dim is None:
            dim = int(raw["dim"])
        if (
            raw.get("format") != _FORMAT
            or raw.get("model") != model
            or int(raw.get("dim", -1)) != dim
        ):
            log.info("chunk vector index %s was made for another model or format: rebuilt", path)
            return None
        if int(raw["rows"]) < exact_below:
            log.info(
                "chunk vector index %s holds fewer rows than [dedup] "
                "vector_index_min_rows: searched exactly instead",
                path,
            )
            return None
        if not is_described(path, raw):
            raise ValueError("checksum mismatch")
        graph = new_graph(dim, raw.get("params", {}))
        graph.load(str(path))
        if len(graph) != int(raw["rows"]) or graph.ndim != dim:
            raise ValueError(f"{len(graph)} rows, description says {raw['rows']}")
        keys = np.asarray(graph.keys, dtype=np.uint64)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        log.warning(
            "chunk vector index %s is unreadable (%s): rebuilding it from the warehouse",
            path,
            exc,
        )
        return None
    return graph, raw, keys
