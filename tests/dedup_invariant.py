"""The dedup invariant in tests: every duplicate's duplicate_of overlaps it (index, warehouse)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.dedup.index import DedupIndex
from pipeline.dedup.overlap import Violation, check_overlaps
from pipeline.models import DedupDecision, DedupDoc, StoredDuplicate
from pipeline.store.db import Warehouse
from pipeline.store.dedup import duplicates_with_originals


class RecordingIndex(DedupIndex):
    """A DedupIndex that keeps the text and decision of each article it holds."""

    def __init__(self, settings: DedupSettings | None = None, **kwargs) -> None:
        super().__init__(settings or DedupSettings(), **kwargs)
        self.held: dict[int, tuple[str, DedupDecision]] = {}

    def add(
        self, doc: DedupDoc, decision: DedupDecision, shingles: np.ndarray | None = None
    ) -> None:
        super().add(doc, decision, shingles)
        self.held[doc.id] = (doc.text, decision)

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        super().remove(ids)
        for i in ids:
            self.held.pop(i, None)


def index_violations(index: RecordingIndex) -> list[Violation]:
    """Violations of the invariant among the articles the index holds."""
    dups = [
        StoredDuplicate(
            i,
            text,
            d.kind,
            d.duplicate_of,
            index.held[d.duplicate_of][0] if d.duplicate_of in index.held else None,
        )
        for i, (text, d) in sorted(index.held.items())
        if d.duplicate_of is not None
    ]
    return check_overlaps(dups, index.settings).violations


def assert_index_duplicates_overlap(index: RecordingIndex) -> None:
    """Fail unless every duplicate the index holds overlaps its duplicate_of."""
    assert index_violations(index) == []


def assert_warehouse_duplicates_overlap(warehouse: Warehouse, settings: DedupSettings) -> int:
    """Fail unless every stored duplicate overlaps its duplicate_of; the number checked."""
    with warehouse.connect(read_only=True) as db:
        result = check_overlaps(duplicates_with_originals(db), settings)
    assert result.violations == []
    return result.checked
