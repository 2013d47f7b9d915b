"""Exporting the embedding model to ONNX on this machine: the forward pass, mean pooling and L2
normalisation as one graph, made from the packaged, hash-verified `model.safetensors`.

The export uses torch's TorchScript-based ONNX exporter (`dynamo=False`: it needs nothing beyond
torch, where the newer exporter needs onnxscript); the graph is then fused by onnxruntime's
transformer optimizer (attention, layer norm and GELU as single kernels), and for `int8`
quantized dynamically (signed per-channel weights; reduced range on a CPU without VNNI, whose
int8 instructions saturate otherwise). Nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

#: ONNX opset of the export (the TorchScript exporter supports up to 20).
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxExportError(Exception):
    """The graph could not be exported, fused or quantized on this machine."""


def export_fp32(model_dir: Path) -> bytes:
    """Export and fuse the model's forward pass + mean pooling + normalisation as fp32 ONNX
    bytes. Raises OnnxExportError."""
    with tempfile.TemporaryDirectory(prefix="newswatch-onnx-") as tmp_name:
        tmp = Path(tmp_name)
        with _one_error():
            config = _export_fp32(model_dir, tmp / "raw.onnx")
            _fuse(tmp / "raw.onnx", tmp / "fp32.onnx", config)
            return (tmp / "fp32.onnx").read_bytes()


def quantize_int8(fp32: bytes, reduce_range: bool) -> bytes:
    """The int8 graph of a (verified) fp32 graph: dynamic quantization of its weights, in a
    few seconds and without torch. Raises OnnxExportError."""
    with tempfile.TemporaryDirectory(prefix="newswatch-onnx-") as tmp_name:
        tmp = Path(tmp_name)
        with _one_error():
            (tmp / "fp32.onnx").write_bytes(fp32)
            _quantize(tmp / "fp32.onnx", tmp / "int8.onnx", reduce_range)
            return (tmp / "int8.onnx").read_bytes()


@contextmanager
def _one_error() -> Iterator[None]:
    """torch, transformers, onnx and onnxruntime raise many kinds: one OnnxExportError."""
    try:
        yield
    except OnnxExportError:
        raise
    except Exception as exc:
        raise OnnxExportError(
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc


def _export_fp32(model_dir: Path, out: Path) -> dict:
    # heavy: torch and transformers load only when a graph is exported
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

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
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
    from onnxruntime.transformers.optimizer import optimize_model  # heavy: an export's alone

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
    # heavy: onnx and onnxruntime's quantizer load only when an int8 graph is made
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
