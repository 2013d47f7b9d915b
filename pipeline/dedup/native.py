"""usearch's index class, loaded so that the process survives onnxruntime.

Importing onnxruntime after usearch's native library crashes the process (a segmentation fault,
onnxruntime 1.32 / usearch 2.26 on Linux); the other order is safe. A process may build the
dedup index, or search a saved one, before its embedder loads the model, so every use of usearch
goes through `usearch_index`, which loads onnxruntime first when it is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


def usearch_index() -> Any:
    """usearch's `Index` class, onnxruntime loaded before it (when installed)."""
    # Deferred: both are native libraries of tens of MB that most commands never load.
    if importlib.util.find_spec("onnxruntime") is not None:
        importlib.import_module("onnxruntime")
    return importlib.import_module("usearch.index").Index
