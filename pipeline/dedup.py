"""Deduplication and story clustering (placeholder level: exact content hash only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import numpy as np

from pipeline.models import DedupDecision
from pipeline.settings import DedupSettings


@dataclass(frozen=True)
class DedupDoc:
    """What deduplication needs to know of one article."""

    id: int
    text: str
    content_hash: str
    lang: str | None
    published_at: datetime
    vector: np.ndarray
    chunk_vectors: np.ndarray
    is_seed: bool


class DedupIndex:
    """Everything stored so far, held in memory between cycles."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self._by_hash: dict[str, int] = {}
        self._decisions: dict[int, DedupDecision] = {}
        self.max_id = 0

    def __len__(self) -> int:
        return len(self._decisions)

    def check(self, doc: DedupDoc) -> DedupDecision:
        """Decide whether `doc` copies something indexed, and which story it belongs to."""
        original = self._by_hash.get(doc.content_hash)
        if original is not None and original != doc.id:
            root = self._decisions[original].duplicate_of or original
            return DedupDecision(root, 1.0, "hash", self._decisions[root].story_id
                                 if root in self._decisions else root)
        return DedupDecision(None, None, None, doc.id)

    def add(self, doc: DedupDoc, decision: DedupDecision) -> None:
        """Index a decided article so later ones are compared with it."""
        self._by_hash.setdefault(doc.content_hash, doc.id)
        self._decisions[doc.id] = decision
        self.max_id = max(self.max_id, doc.id)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget articles (a batch that could not be written, an edited seed)."""
        gone = set(ids)
        for key in [k for k, v in self._by_hash.items() if v in gone]:
            del self._by_hash[key]
        for i in gone:
            self._decisions.pop(i, None)
