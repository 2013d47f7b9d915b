"""The openings of stored texts that story cards show, kept in memory between requests.

Reading texts back by id is the costliest query of the front page (see
`pipeline.store.reading.text_openings`), and a stored text does not change while its hash
stays the same: an opening is kept under (article id, content hash), so an edited seed that
keeps its id is read again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from cachetools import LRUCache

from pipeline.store import reading
from pipeline.store.db import Db

# A front page shows at most [web] max_stories cards (300 by default); this holds the cards of
# several filtered views of it at some 400 characters each (a few MB).
KEPT = 4096


class Openings:
    """Text openings by article, read from the warehouse once (thread-safe: pages run on a
    pool of threads)."""

    def __init__(self, size: int = KEPT) -> None:
        self._kept: LRUCache[tuple[int, str], str] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def of(self, db: Db, hashes: Mapping[int, str]) -> dict[int, str]:
        """The opening of each article (id -> its content hash), reading only those not kept."""
        found: dict[int, str] = {}
        with self._lock:
            for aid, digest in hashes.items():
                kept = self._kept.get((aid, digest))
                if kept is not None:
                    found[aid] = kept
        missing: Sequence[int] = [aid for aid in hashes if aid not in found]
        if missing:
            read = reading.text_openings(db, missing, hashes={a: hashes[a] for a in missing})
            with self._lock:
                for aid, text in read.items():
                    self._kept[(aid, hashes[aid])] = text
            found.update(read)
        return found
