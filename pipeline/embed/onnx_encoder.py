"""The ONNX Runtime side of the embedder: unit-norm sentence vectors from an exported graph
(forward pass, mean pooling and L2 normalisation in one), tokenised exactly as the torch path.

Tokenisation is the model's own `tokenizer.json` read by the `tokenizers` library (the same fast
tokenizer sentence-transformers wraps; word pieces and offsets are identical), and windowing and
chunk pooling stay in pipeline/embed/english.py. The graph comes from pipeline/embed/onnx_cache.py
(exported by onnx_export.py, checked against torch, cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


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
        import onnxruntime as ort  # heavy: onnxruntime and tokenizers load with the session
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
        return [
            (int(start), int(end))
            for start, end in self._splitter.encode(text, add_special_tokens=False).offsets
        ]

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


def session_options(threads: int) -> Any:
    """Session options: `threads` intra-op threads (0: one per core), no spinning, all graph
    optimisations. Why no spinning: see README "How it decides" (thread settings)."""
    import onnxruntime as ort  # heavy: see OnnxEncoder

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
