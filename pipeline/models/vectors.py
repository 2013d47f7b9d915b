"""The vector records: a text's windows, their vectors and the article's pooled vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Between a model's name and the precision of its vectors in a stored model name
#: (`<model>#int8`: pipeline/embed/precision.py).
PRECISION_SEPARATOR = "#"


@dataclass(frozen=True)
class Span:
    """A window of word pieces mapped back to characters of the text."""

    start_char: int
    end_char: int
    tokens: int


@dataclass(frozen=True)
class Chunk:
    """One window of a text: its character span and its unit-norm vector."""

    start_char: int
    end_char: int
    tokens: int
    vector: np.ndarray


@dataclass(frozen=True)
class Embedding:
    """A text's chunk vectors and their pooled, unit-norm article vector."""

    model: str
    vector: np.ndarray
    chunks: tuple[Chunk, ...]
    windows: int = 0  # windows the whole text has (more than chunks: cut)
    title_vector: np.ndarray | None = None  # the headline's vector, when one was embedded
    lead_vector: np.ndarray | None = None  # multilingual title + lead vector (cross-lingual)
    lead_model: str = ""  # the model that made lead_vector

    @property
    def cut(self) -> bool:
        """Whether only the first part of the text was embedded ([embed] max_chunks)."""
        return self.windows > len(self.chunks)
