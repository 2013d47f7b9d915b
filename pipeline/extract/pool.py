"""Article extraction beside the embedder: trafilatura in worker processes.

Extraction is CPU-bound Python (trafilatura over lxml) and holds the GIL, so in threads of the
ingest process it takes turns with everything else there: the event loop, tokenisation, dedup.
In worker processes it runs on another core while the model embeds the previous batch, and a
page that crashes the parser (a segfault in lxml) takes down one worker, not the daemon.

One pool per process and worker count, started on first use and kept (starting a worker costs
about a second: importing trafilatura), shared by every cycle and shut down at exit. Workers are
spawned, not forked: the ingest process runs threads (ONNX Runtime, the event loop, the writer)
that a fork would copy in an undefined state. A worker whose parent dies (a SIGKILLed ingest)
exits within a second: nothing else would stop it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipeline.extract.article import PageExtract, extract_page

log = logging.getLogger(__name__)

#: Threads used when extraction stays in the ingest process ([ingest] extract_workers = 0).
IN_PROCESS_THREADS = 2


def timed_extract(
    body: bytes, url: str, content_type: str | None = None
) -> tuple[PageExtract | None, float]:
    """extract_page and the seconds it took (run in a worker)."""
    started = time.perf_counter()
    return extract_page(body, url, content_type=content_type), time.perf_counter() - started


def _ready() -> bool:
    return True


#: How often a worker checks that the process that started it is still alive.
PARENT_CHECK_S = 0.5


def _worker_init(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the ingest process decides what stops, and a
    # worker must not print its own KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker waits on a queue its parent feeds, and holds that queue's write end itself, so
    # it would wait for ever once the parent is killed (SIGKILL, OOM): it watches its parent
    # instead and exits when it is gone (the orphan is handed to another parent). Linux's
    # parent-death signal is not used: it fires when the *thread* that started the worker
    # ends, and any thread of the ingest process may be the one that starts the pool.
    threading.Thread(
        target=_exit_with_parent, args=(parent,), daemon=True, name="newswatch-parent-watch"
    ).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


class Extractor:
    """Runs timed_extract in worker processes (or threads when workers is 0)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        with self._lock:
            if self._executor is None:
                if self.workers <= 0:
                    self._executor = ThreadPoolExecutor(
                        IN_PROCESS_THREADS, thread_name_prefix="newswatch-extract"
                    )
                else:
                    self._executor = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_worker_init,
                        initargs=(os.getpid(),),
                    )
            return self._executor

    def start(self, wait: bool = False) -> None:
        """Start the workers now rather than on the first page (`wait`: until they are up)."""
        future = self._pool().submit(_ready)
        if wait:
            future.result()

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def extract(
        self, body: bytes, url: str, content_type: str | None = None
    ) -> tuple[PageExtract | None, float]:
        """The page's extract and the seconds extraction took; raises what extraction raises.

        A worker that died (the pool is then broken for every page in it) is replaced and the
        page tried once more; a page that kills its worker twice raises BrokenProcessPool."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, timed_extract, body, url, content_type)
            except BrokenProcessPool:
                self._replace(pool)
                if attempt == 2:
                    raise
                log.warning(
                    "an extraction worker died (while on %s or a page beside it); "
                    "starting a new one",
                    url,
                )
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the workers (waiting for pages in progress)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_shared: dict[int, Extractor] = {}
_shared_lock = threading.Lock()


def shared_extractor(workers: int) -> Extractor:
    """The process-wide extractor with this many workers (started on first use)."""
    with _shared_lock:
        if workers not in _shared:
            _shared[workers] = Extractor(workers)
        return _shared[workers]


@atexit.register
def _close_shared() -> None:
    for extractor in list(_shared.values()):
        extractor.close()
