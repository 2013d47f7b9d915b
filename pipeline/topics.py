"""Topic tagging and relevance (placeholder level: relevance to the seeds only)."""

from __future__ import annotations

import numpy as np

from pipeline.embed import Embedding
from pipeline.models import TagResult
from pipeline.settings import Settings


class Tagger:
    """Scores articles against the configured topics and the seed corpus."""

    def __init__(self, seed_vectors: np.ndarray, min_relevance: float) -> None:
        self.seed_vectors = seed_vectors
        self.min_relevance = min_relevance

    def tag(self, title: str, text: str, embedding: Embedding) -> TagResult:
        """Topics, relevance and on-topic flag of one article."""
        relevance = 0.0
        if self.seed_vectors.size:
            relevance = float(np.clip((self.seed_vectors @ embedding.vector).max(), 0.0, 1.0))
        return TagResult(topics=(), relevance=relevance,
                         on_topic=relevance >= self.min_relevance)


def build_tagger(settings: Settings, embedder, seed_vectors: np.ndarray,
                 seed_chunk_vectors: np.ndarray) -> Tagger:
    """The tagger the settings describe, given the seed corpus's article and chunk vectors."""
    return Tagger(seed_vectors, settings.topics.min_relevance)
