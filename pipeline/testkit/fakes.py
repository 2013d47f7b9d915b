"""Small stand-ins for unit tests of logic that does not depend on the real model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.embed.english import pool
from pipeline.models import Chunk, Embedding, Span


class FakeEmbedder:
    """A deterministic bag-of-words embedder: texts sharing words get similar unit vectors.

    Texts are split into windows of `window` words with `overlap` words shared, like the real
    embedder does with word pieces, so chunk-level logic can be tested without the model.
    """

    model_name = "fake/bag-of-words"

    def __init__(self, dim: int = 64, window: int = 50, overlap: int = 10) -> None:
        self.dim = dim
        self.window = window
        self.overlap = overlap

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of short texts."""
        return (
            np.stack([self._vector(t) for t in texts])
            if texts
            else np.zeros((0, self.dim), dtype=np.float32)
        )

    def spans(self, text: str) -> list[Span]:
        """Word windows of a text."""
        matches = list(re.finditer(r"\S+", text))
        if not matches:
            return [Span(0, len(text), 0)]
        stride = max(1, self.window - self.overlap)
        out, start = [], 0
        while True:
            end = min(start + self.window, len(matches))
            out.append(Span(matches[start].start(), matches[end - 1].end(), end - start))
            if end >= len(matches):
                return out
            start += stride

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        """Chunk vectors and pooled vector of each text."""
        out = []
        for text in texts:
            spans = self.spans(text)
            vecs = self.encode([text[s.start_char : s.end_char] for s in spans])
            chunks = tuple(
                Chunk(s.start_char, s.end_char, s.tokens, vecs[i]) for i, s in enumerate(spans)
            )
            out.append(Embedding(self.model_name, pool(vecs, [s.tokens for s in spans]), chunks))
            if progress:
                progress(1)
        return out
