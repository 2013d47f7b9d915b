"""The precision of stored vectors, recorded in the model name each vector is stored under.

`embeddings.model` and `chunk_embeddings.model` hold `<model>#<precision>`: the model's name
and the arithmetic that made the vector, fp32 (torch, or ONNX fp32: the same vectors) or int8
(ONNX, dynamically quantized). Vectors written before the precision was recorded hold the model's
name alone. Vectors of one model are compared across precisions as they are (int8 to fp32 cosine
≥ 0.98 on the parity probes and the shared pages: `bench/embed_parity.py`), never re-embedded;
what decides whether two vectors are comparable is the model's name, not the precision.
"""

from __future__ import annotations

from pipeline.models.vectors import PRECISION_SEPARATOR as SEPARATOR

#: The precisions a vector can be made in.
PRECISIONS = ("fp32", "int8")
#: Least cosine measured between vectors of one text made in the two precisions (the int8
#: parity probes' minimum is 0.969 on a one-letter text; 0.98 on every real page).
COMPARABLE_COSINE = 0.98


def backend_precision(backend_name: str) -> str:
    """The precision of a backend's vectors: "torch" and "onnx-fp32" fp32, "onnx-int8" int8."""
    return backend_name.rpartition("-")[2] if backend_name.startswith("onnx-") else "fp32"


def chunks_per_call(precision: str, batch_size: int) -> int:
    """Chunks one model call encodes: `batch_size`, but one at int8. Its activations are
    quantized with one scale per call, so in a batch a chunk's vector moves with the chunks that
    share the call (cosine down to 0.97 on the shared pages), and an article's duplicate and
    story decisions with the order articles arrive in. One chunk per call pads nothing and is
    no slower on the CPU (bench/embed_calls.py)."""
    return 1 if precision == "int8" else batch_size


def stored_name(model: str, precision: str) -> str:
    """The name a vector of `model` made in `precision` is stored under."""
    return f"{model}{SEPARATOR}{precision}"


def split_stored_name(name: str) -> tuple[str, str]:
    """A stored name's model and precision ("" when the vector predates its recording)."""
    model, sep, precision = name.rpartition(SEPARATOR)
    if sep and precision in PRECISIONS:
        return model, precision
    return name, ""
