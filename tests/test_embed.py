"""The embedder: packaged model verified and loaded offline, chunking of long texts, pooling."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from pipeline.embed.english import DEFAULT_MODEL_NAME, Embedder, pool, window_spans
from pipeline.embed.precision import split_stored_name
from pipeline.errors import ModelError


def test_window_spans_overlap_and_cover_everything():
    offsets = [(i * 5, i * 5 + 4) for i in range(1000)]
    spans = window_spans(offsets, window=254, overlap=64, text_len=5000)
    assert spans[0].start_char == 0 and spans[-1].end_char == offsets[-1][1]
    assert all(s.tokens <= 254 for s in spans)
    for a, b in pairwise(spans):
        assert b.start_char < a.end_char  # consecutive windows overlap


def test_pool_is_unit_norm_and_weighted():
    a = np.array([1, 0], dtype=np.float32)
    b = np.array([0, 1], dtype=np.float32)
    v = pool(np.stack([a, b]), [3, 1])
    assert abs(np.linalg.norm(v) - 1) < 1e-6 and v[0] > v[1]


@pytest.mark.model
def test_default_model_gives_unit_384d_vectors(embedder):
    [e] = embedder.embed(["US Treasury sanctions a Chinese satellite firm."])
    # The stored name says the precision of the vector (int8 by default, fp32 on torch).
    assert e.model == f"{DEFAULT_MODEL_NAME}#{embedder.precision_name}"
    assert split_stored_name(e.model) == (DEFAULT_MODEL_NAME, embedder.precision_name)
    assert e.vector.shape == (384,) and e.vector.dtype == np.float32
    assert abs(float(np.linalg.norm(e.vector)) - 1) < 1e-5
    assert len(e.chunks) == 1
    direct = embedder.encode(["US Treasury sanctions a Chinese satellite firm."])[0]
    assert float(direct @ e.vector) > 0.9999


@pytest.mark.model
def test_long_text_is_chunked_not_cut(embedder):
    words = [f"word{i % 97} topic{i % 13}" for i in range(1000)]
    text = " ".join(words)  # 2,000 words, several thousand word pieces
    [e] = embedder.embed([text])
    assert len(e.chunks) > 5
    assert e.chunks[0].start_char == 0 and e.chunks[-1].end_char == len(text)
    assert all(c.tokens <= embedder.window for c in e.chunks)
    for a, b in pairwise(e.chunks):
        assert b.start_char < a.end_char
    for c in e.chunks:
        assert abs(float(np.linalg.norm(c.vector)) - 1) < 1e-5
    # A change after the first window is visible in the article vector.
    [e2] = embedder.embed([text[: len(text) // 2] + " completely different ending " * 200])
    assert float(e.vector @ e2.vector) < 0.999


def test_hash_mismatch_is_a_clear_error(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    bad = Embedder(str(tmp_path), sha256="0" * 64)
    with pytest.raises(ModelError, match="SHA-256"):
        bad.encode(["x"])


def test_packaged_default_is_verified(monkeypatch):
    e = Embedder(sha256="1" * 64)  # the packaged model against a wrong hash
    with pytest.raises(ModelError, match="expected 1111"):
        e.encode(["x"])
