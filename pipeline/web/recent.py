"""Pages' data as last read, answered instead of waiting while another process writes.

DuckDB lets one process write a file or many processes read it, never both. While a daemon of
another process stores a batch (some 0.3 s at 100,000 articles, longer for a large one), a page
of a separate `newswatch serve` cannot open the file. A page read within the last
`[web] stale_while_writing_s` is then answered from that reading, with the time it was read,
rather than after the write: it holds what was committed before the write began, at most that
many seconds old, and the open page's poll shows the new reports once the batch is in. A page
nobody has read lately still waits for the write (bounded by `[web] busy_wait_s`).

Beside this process's own writer (`newswatch run` serving the pages) a page reads the open
database as it is committed and never waits, so nothing is answered from here; and a write of
this process since a reading (a mark made on a page) means the page is read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from cachetools import TTLCache
from starlette.requests import Request

from pipeline.store.db import Warehouse

T = TypeVar("T")

#: Pages kept: every front-page filter, story, article and entity page read in the last seconds.
KEPT = 256


@dataclass(frozen=True)
class Reading(Generic[T]):
    """A page's data, when it was read, and how many writes this process had made by then."""

    value: T
    at: datetime
    commits: int


def page_key(request: Request) -> str:
    """One key for a page and its JSON twin: the path without `.json`, and its parameters."""
    path = request.url.path.removesuffix(".json") or "/"
    if path == "/index":
        path = "/"
    return f"{path}?{'&'.join(sorted(f'{k}={v}' for k, v in request.query_params.multi_items()))}"


class Recent:
    """The last reading of each page, kept for `keep_s` seconds (0 keeps none); thread-safe."""

    def __init__(self, keep_s: float, size: int = KEPT) -> None:
        self._kept: TTLCache[str, Reading[Any]] | None = (
            TTLCache(maxsize=size, ttl=keep_s) if keep_s > 0 else None
        )
        self._lock = threading.Lock()

    def read(
        self,
        key: str,
        warehouse: Warehouse,
        clock: Callable[[], datetime],
        build: Callable[[], T],
    ) -> tuple[T, datetime | None]:
        """The page's data and, when it comes from an earlier reading, the time of that reading."""
        if self._kept is None:
            return build(), None
        if warehouse.other_writer():
            with self._lock:
                kept = self._kept.get(key)
            if kept is not None and kept.commits == warehouse.commits:
                return kept.value, kept.at
        at, commits = clock(), warehouse.commits  # taken before the reads: never newer than them
        value = build()
        with self._lock:
            self._kept[key] = Reading(value, at, commits)
        return value, None
