"""A cycle's feed polls, recorded once each feed is settled (the ledger says when): in the
transaction of the batch that settles it when there is one, else by the writer thread on its
own, so polls and batches are written in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from pipeline.ingest.ledger import Ledger
from pipeline.store import entries as entry_store
from pipeline.store import feeds as feed_store
from pipeline.store.db import Db, Warehouse

log = logging.getLogger(__name__)


class PollRecorder:
    """Settled feeds' polls, queued until the writer records them. `dispatch` runs a call on
    the writer thread (so polls and batches are written in order)."""

    def __init__(
        self,
        warehouse: Warehouse,
        ledger: Ledger,
        dispatch: Callable[[Callable[[], None]], None],
    ) -> None:
        self.warehouse = warehouse
        self.ledger = ledger
        self._dispatch = dispatch
        self._lock = threading.Lock()
        self._due: list[int] = []
        self._flush_queued = False

    def record(self, feed_ids: Sequence[int]) -> None:
        """Queue settled feeds' polls; the writer records them with its next transaction, or
        on their own if none comes first."""
        if not feed_ids:
            return
        with self._lock:
            self._due.extend(feed_ids)
            if self._flush_queued:
                return
            self._flush_queued = True
        self._dispatch(self._flush)

    def take(self) -> list[int]:
        """The feeds whose polls are queued (a batch records them in its transaction)."""
        with self._lock:
            due, self._due = self._due, []
            self._flush_queued = False
            return due

    def apply(self, db: Db, feed_ids: Sequence[int]) -> None:
        """Write these feeds' polls, and the entry aliases that are ready, in `db`."""
        entry_store.record_entries(db, self.ledger.ready_aliases())
        for fid in feed_ids:
            feed_store.apply_poll(db, *self.ledger.final_outcome(fid))

    def write(self, feed_ids: Sequence[int]) -> None:
        """Write these feeds' polls in a transaction of their own."""
        try:
            with self.warehouse.transaction() as db:
                self.apply(db, feed_ids)
        except Exception as exc:  # the next cycle polls these feeds again; nothing is lost
            log.warning("could not record %d feed polls: %s", len(feed_ids), exc)

    def finish(self) -> None:
        """Record the polls still due and those of feeds whose entries did not all get stored
        (read again in full next time)."""
        self.write(self.ledger.unsettled() + self.take())

    def _flush(self) -> None:
        self.write(self.take())
