"""What every page shares: the settings, brief read-only visits to the warehouse, the clock, the
topics and watchlist as configured, and the query encoder search needs (loaded once, lazily)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.requests import Request

from pipeline.app.learning import Trained, train_changed
from pipeline.config.settings import Settings
from pipeline.errors import ConfigError, NewswatchError
from pipeline.ingest.services import Services
from pipeline.store.db import Db, Warehouse
from pipeline.tag.topics import load_topics
from pipeline.tag.watchlist import Watchlist, load_watchlist, watchlist_mark
from pipeline.web.openings import Openings
from pipeline.web.recent import Recent, page_key

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class Site:
    """The reading room's view of one installation (one per server, shared by its requests)."""

    def __init__(
        self,
        settings: Settings,
        warehouse: Warehouse,
        *,
        services: Callable[[], Services] | None = None,
        encoder: Callable[[], Any] | None = None,
        leads: Callable[[], Any] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.clock = clock
        # The models come from the pipeline's services (loaded once, the daemon's own under
        # `run`) unless given on their own (a test's fake embedder).
        self._factories = {
            "services": services,
            "english": encoder or (services and (lambda: self.services().embedder)),
            "leads": leads or (services and (lambda: self.services().lead_embedder)),
        }
        self._models: dict[str, Any] = {}
        self._model_lock = threading.Lock()
        self._learn_lock = threading.Lock()
        self._training = threading.Lock()  # one training at a time: versions are numbered
        self._to_learn: set[str] = set()
        self._learning = False
        self._watchlist: tuple[tuple, Watchlist] | None = None
        self._topics: tuple[tuple, dict[str, str]] | None = None
        self._config_lock = threading.Lock()
        self.openings = Openings()
        self.recent = Recent(settings.web.stale_while_writing_s)

    @contextmanager
    def read(self) -> Iterator[Db]:
        """The warehouse, read-only, for one page: a writer in progress is waited for up to
        `[web] busy_wait_s` (then WarehouseBusyError, shown as 503 with Retry-After)."""
        wait_s = self.settings.web.busy_wait_s
        deadline = time.monotonic() + wait_s
        # A writer of another process (the daemon's batch) waiting for the file goes first.
        self.warehouse.yield_to_writer(wait_s)
        left = max(0.0, deadline - time.monotonic())  # one bound for both waits
        with self.warehouse.connect(read_only=True, wait_s=left) as db:
            yield db

    def page(self, request: Request, build: Callable[[], T]) -> tuple[T, datetime | None]:
        """A page's data, read now, or its reading of moments ago (and that reading's time)
        while another process writes the warehouse (pipeline/web/recent.py)."""
        return self.recent.read(page_key(request), self.warehouse, self.clock, build)

    def _model(self, name: str) -> Any:
        with self._model_lock:
            if name not in self._models:
                factory = self._factories[name]
                self._models[name] = factory() if factory is not None else None
            return self._models[name]

    def services(self) -> Services:
        """The pipeline's services (model, tagger) the trainer page scores with; loaded at its
        first use; NewswatchError when this server was built without them."""
        found = self._model("services")
        if found is None:
            raise NewswatchError("this server was started without the pipeline's models")
        return found

    def encoder(self) -> Any:
        """The English model search embeds queries with (loaded at the first search)."""
        return self._model("english")

    def lead_encoder(self) -> Any:
        """The multilingual lead model (None when cross-lingual search is off)."""
        return self._model("leads")

    def learn_soon(self, topic: str) -> None:
        """Train the topic's learned part from its marks, at once but off the request: one
        training at a time, marks made meanwhile gathered into the next."""
        if not self.settings.topics.learn or self._factories["services"] is None:
            return
        with self._learn_lock:
            self._to_learn.add(topic)
            if self._learning:
                return
            self._learning = True
        # Not a daemon thread (as the request's worker thread is): a training under way finishes
        # (seconds) before the process exits, never killed inside DuckDB.
        threading.Thread(target=self._learn, name="newswatch-learn", daemon=False).start()

    def _learn(self) -> None:
        while True:
            with self._learn_lock:
                topics = sorted(self._to_learn)
                self._to_learn.clear()
                if not topics:
                    self._learning = False
                    return
            try:
                self.learn_now(topics)
            except Exception:  # a mark is recorded either way; the next cycle trains again
                log.exception("training %s after a mark failed", ", ".join(topics))

    def learn_now(self, topics: list[str], *, force: bool = False) -> list[Trained]:
        """Train these topics' learned parts now (one training at a time)."""
        with self._training:
            return train_changed(self.services(), topics=topics, force=force)

    def topic_labels(self) -> dict[str, str]:
        """{slug: label} of the configured topics, in the file's order ({} if it cannot be read)."""
        path = Path(self.settings.topics.file)
        mark = _mark(path)
        with self._config_lock:
            if self._topics is None or self._topics[0] != mark:
                try:
                    topics = load_topics(path, self.settings.seeds.dir)
                    labels = {t.slug: t.label or t.slug for t in topics}
                except ConfigError as exc:
                    log.warning("reading room: %s", exc)
                    labels = {}
                self._topics = (mark, labels)
            return dict(self._topics[1])

    def watchlist(self) -> Watchlist:
        """The watchlist as configured (empty if it cannot be read)."""
        path = self.settings.watchlist.file
        mark = watchlist_mark(path)
        with self._config_lock:
            if self._watchlist is None or self._watchlist[0] != mark:
                try:
                    found = load_watchlist(path)
                except ConfigError as exc:
                    log.warning("reading room: %s", exc)
                    found = Watchlist()
                self._watchlist = (mark, found)
            return self._watchlist[1]


def _mark(path: Path) -> tuple:
    try:
        return (str(path), path.stat().st_mtime_ns)
    except OSError:
        return (str(path), None)
