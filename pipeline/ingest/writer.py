"""The single writer: drafts in, stored articles out.

Every source of articles (the feed cycle, the archive backfill) hands its drafts to a `Writer`,
which gives them ids, has the batch step embed, deduplicate and tag them with the long-lived
services' components (pipeline/ingest/batch.py), and writes each batch in one transaction,
together with whatever the caller records beside it (the feed entries and polls a batch
completes). One writer per process at a time, called from one thread, so batches are decided and
stored in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from pipeline.errors import NewswatchError, WarehouseBusyError
from pipeline.ingest.batch import BatchStep
from pipeline.ingest.services import Services
from pipeline.models import ArticleDraft, Embedding, StoredArticle
from pipeline.retry import backoff
from pipeline.store import articles as article_store
from pipeline.store.db import Db
from pipeline.store.textstore import keep_committed

log = logging.getLogger(__name__)

#: Attempts at writing one batch before it is given up until the next cycle.
WRITE_ATTEMPTS = 3

Also = Callable[[Db, Sequence[StoredArticle]], None]


class BatchNotWrittenError(NewswatchError):
    """A batch could not be written; nothing of it is stored."""


class Writer:
    """Turns batches of drafts into stored articles, one transaction each."""

    def __init__(
        self,
        services: Services,
        *,
        cancel: threading.Event | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.services = services
        self.cancel = cancel or threading.Event()
        self.timings = timings if timings is not None else {}
        self.next_id = 0

    def start(self, db: Db) -> None:
        """Take the next free article id (call with the index refreshed)."""
        self.next_id = max(article_store.max_article_id(db), self.services.index.max_id) + 1

    def store(
        self,
        drafts: Sequence[ArticleDraft],
        also: Also | None = None,
        *,
        embeddings: Sequence[Embedding] | None = None,
    ) -> list[StoredArticle]:
        """Embed (unless `embeddings` are given), deduplicate, tag and write a batch;
        `also(db, stored)` runs in the same transaction. Raises BatchNotWrittenError (the index
        forgets the batch) on failure."""
        first = self.next_id
        self.next_id += len(drafts)
        step = BatchStep(self.services, timings=self.timings)
        stored = step.process(drafts, first, embeddings=embeddings)
        try:
            self._commit(stored, also)
        except BatchNotWrittenError:
            self.services.forget([a.id for a in stored])
            raise
        return stored

    def _commit(self, stored: Sequence[StoredArticle], also: Also | None) -> None:
        t0 = time.perf_counter()

        def warn(attempt: int, exc: BaseException, wait: float) -> None:
            log.warning(
                "writing a batch of %d articles failed (attempt %d of %d): %s; retrying in %.0f s",
                len(stored),
                attempt,
                WRITE_ATTEMPTS,
                exc,
                wait,
            )

        try:
            # A busy file has had its own long wait (busy_timeout_s) already: not retried here.
            for attempt in backoff(
                first_s=1.0,
                max_s=4.0,
                attempts=WRITE_ATTEMPTS,
                retry_if=lambda exc: not isinstance(exc, WarehouseBusyError),
                on_retry=warn,
                stop=self.cancel,
            ):
                with attempt, self.services.warehouse.transaction() as db:
                    article_store.insert_articles(db, stored)
                    if also is not None:
                        also(db, stored)
        except Exception as exc:
            raise BatchNotWrittenError(
                f"batch of {len(stored)} articles not written: {exc}"
            ) from None
        finally:
            self.timings["write"] = self.timings.get("write", 0.0) + time.perf_counter() - t0
        # After the commit, outside the warehouse: pages read the texts from here.
        keep_committed(self.services.warehouse.path, stored)
