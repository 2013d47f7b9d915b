"""Where the per-file tasks run: in this process (`--workers 0`), on a Dask `LocalCluster`
sized to the machine, or on an existing cluster (`--scheduler tcp://host:8786`).

Results come back in the order the files were given, whatever order the workers finish in, so
a cluster run stores exactly what a serial run stores (same ids, duplicates and stories); a
few files per worker are in flight at once, which keeps the workers busy and bounds what the
client holds.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Protocol

from pipeline.backfill.worker import FileResult, WorkerJob, process_file
from pipeline.errors import NewswatchError

log = logging.getLogger(__name__)

#: Seconds to wait for a scheduler to answer and for local workers to start.
CONNECT_TIMEOUT_S = 60


class ClusterError(NewswatchError):
    """The Dask scheduler cannot be reached or has no workers."""


class Executor(Protocol):
    """Runs the per-file tasks and hands back their results in file order."""

    workers: int

    def results(self, paths: Sequence[str], job: WorkerJob) -> Iterator[FileResult]:
        """Each file's result, in the order of `paths`."""

    def close(self) -> None:
        """Stop what this executor started."""


class SerialExecutor:
    """Every file in this process, one after the other (`--workers 0`)."""

    workers = 0

    def results(self, paths: Sequence[str], job: WorkerJob) -> Iterator[FileResult]:
        """Each file's result, in order."""
        for path in paths:
            yield process_file(path, job)

    def close(self) -> None:
        """Nothing to stop."""


class DaskExecutor:
    """Files as Dask tasks, at most `per_worker` per worker in flight."""

    def __init__(
        self, workers: int | None = None, scheduler: str | None = None, per_worker: int = 2
    ) -> None:
        from distributed import Client, LocalCluster  # heavy: Dask loads only for a cluster run

        self.per_worker = per_worker
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            else:
                n = workers or os.cpu_count() or 1
                # Worker processes with one thread each: extraction and the model hold the
                # GIL; the nanny sets OMP/MKL threads to 1, so n workers use n cores.
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.WARNING,
                )
                self._client = Client(self._cluster, timeout=CONNECT_TIMEOUT_S)
            self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = scheduler or "a local cluster"
            raise ClusterError(f"cannot use {where}: {exc}") from None
        self.workers = len(self._client.scheduler_info(n_workers=-1)["workers"])
        log.info(
            "backfill on %d Dask workers; dashboard: %s", self.workers, self._client.dashboard_link
        )

    def results(self, paths: Sequence[str], job: WorkerJob) -> Iterator[FileResult]:
        """Each file's result in order; a task lost with its worker twice is a failed file."""
        pending: deque = deque()
        todo = iter(enumerate(paths))
        limit = max(1, self.workers * self.per_worker)
        run = uuid.uuid4().hex[:12]

        def submit() -> bool:
            item = next(todo, None)
            if item is None:
                return False
            i, path = item
            pending.append(
                (
                    path,
                    self._client.submit(
                        process_file, path, job, pure=False, retries=1, key=f"backfill-{run}-{i}"
                    ),
                )
            )
            return True

        while len(pending) < limit and submit():
            pass
        try:
            while pending:
                path, future = pending.popleft()
                try:
                    result = future.result()
                except Exception as exc:  # KilledWorker, a worker's import error...
                    result = FileResult(path, error=f"task failed: {type(exc).__name__}: {exc}")
                finally:
                    future.release()
                submit()
                yield result
        finally:
            for _, future in pending:
                future.cancel()

    def close(self) -> None:
        """Disconnect; stop the local cluster if this executor started it."""
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int | None, scheduler: str | None, per_worker: int) -> Executor:
    """Serial when workers == 0, else a Dask executor (local or on `scheduler`)."""
    if workers == 0 and not scheduler:
        return SerialExecutor()
    return DaskExecutor(workers, scheduler, per_worker)
