"""Per-warehouse process locks: one daemon at a time, one writing job at a time.

fcntl locks belong to the process: the kernel releases them when it dies, so a crashed daemon
never leaves a stale lock behind. The lock file also says who holds it, for the error message,
and a job's record is cleared when the job ends: a record found by the next holder is a job that
was killed (SIGKILL, power loss) and never recorded its run. (filelock offers the locking but
not a holder record, hence these few lines.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import DaemonRunningError, NewswatchError
from pipeline.retry import backoff


class JobLockTimeout(NewswatchError):
    """Another newswatch job kept writing to the warehouse for too long."""


class _LockHeld(Exception):
    """The lock is taken (retried until the wait is over)."""


def lock_path(warehouse: Path, name: str) -> Path:
    """The lock file `name` of a warehouse, beside it."""
    return warehouse.with_name(f"{warehouse.name}.{name}.lock")


def read_holder(path: Path) -> dict:
    """What the current (or last) holder wrote into a lock file."""
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    return (
        f"{info.get('what', 'newswatch')} pid {info.get('pid')} on {info.get('host')} "
        f"since {info.get('since')}"
    )


def _try_lock(path: Path) -> int | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


#: The jobs this process holds a job lock for, with when each began: a lock a job takes while
#: it holds another (a backfill's writer lock per batch, inside its own lock for the run) names
#: the same start, so a job killed holding both is one run, recorded once.
_HELD: dict[str, str] = {}
_HELD_LOCK = threading.Lock()


def _write_holder(fd: int, what: str, since: str | None = None) -> None:
    info = {
        "what": what,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": since or datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


@contextmanager
def daemon_lock(warehouse: Path) -> Iterator[None]:
    """Hold the warehouse's daemon lock; raise DaemonRunningError naming the running daemon."""
    path = lock_path(warehouse, "daemon")
    fd = _try_lock(path)
    if fd is None:
        raise DaemonRunningError(
            f"a newswatch daemon already runs for {warehouse}: {_describe(read_holder(path))}"
        )
    try:
        _write_holder(fd, "daemon")
        yield
    finally:
        os.close(fd)


def _read_fd(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data.decode("utf-8") or "{}") if data.strip() else {}
    except (OSError, ValueError):
        return {}


@contextmanager
def job_lock(
    warehouse: Path,
    job: str,
    wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    name: str = "job",
) -> Iterator[dict | None]:
    """Hold the warehouse's writer lock for one job, waiting up to `wait_s` for another job
    (`name`: another lock of the same kind, e.g. one backfill at a time).

    Yields the record of a job that held the lock and died without finishing, or None."""
    path = lock_path(warehouse, name)
    announced: list[str] = []

    def held_by_another() -> int:
        fd = _try_lock(path)
        if fd is None:
            raise _LockHeld(_describe(read_holder(path)))
        return fd

    def announce(_attempt: int, exc: BaseException, _wait: float) -> None:
        if not announced and on_wait is not None:
            on_wait(str(exc))
        announced.append(str(exc))

    try:
        for attempt in backoff(
            first_s=0.2,
            max_s=0.2,
            jitter=False,
            within_s=wait_s,
            retry_if=lambda exc: isinstance(exc, _LockHeld),
            on_retry=announce,
        ):
            with attempt:
                fd = held_by_another()
    except _LockHeld as exc:
        raise JobLockTimeout(
            f"another newswatch job is writing to {warehouse} ({exc}); gave up after {wait_s:.0f} s"
        ) from None
    with _HELD_LOCK:
        since = _HELD.get(job)
        outermost = since is None
        if outermost:
            since = _HELD[job] = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        abandoned = _read_fd(fd) or None
        _write_holder(fd, job, since)
        yield abandoned
    finally:
        if outermost:
            with _HELD_LOCK:
                _HELD.pop(job, None)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
