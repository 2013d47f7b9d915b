"""This process's connections to the warehouse file, and its writers' turn across processes.

DuckDB lets one process write or many processes read a file, never both at once, and within one
process refuses a read-only and a read-write connection to the same file at the same time. An
ingest cycle looks up feed entries on one thread while its writer commits on another, and the
reading room reads beside the daemon's jobs, so this process's connections pass a gate: a read
while this process writes shares the open read-write database, a write waits for this process's
own short reads to end, and reads that arrive while a write waits let it go first.

Across processes, a writer leaves a flag beside the file while it waits for it and while it holds
it (`<warehouse>.writer-waiting`, holding its pid); the reading room's pages see it and wait for
the writer before they open the file, so a stream of page reads cannot keep a batch out, or
serve a rendering made moments before the write instead (pipeline/web/site.py).
(The gate opens files with the `connect` it is given: pipeline/store/db.py stays the only module
that imports duckdb.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from pipeline.errors import WarehouseBusyError, WarehouseError


class ProcessGate:
    """This process's connections to one file: read-only ones, or read-write ones, never both."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.read_only = 0  # read-only connections open
        self.read_write = 0  # read-write connections open (writers and reads beside them)
        self.writers = 0  # of those, opened to write
        self.waiting = 0  # writers waiting for this process's readers to close
        self._reading: dict[int, int] = {}  # thread id -> read-only connections it holds
        self.commits = 0  # write transactions committed through this process's writers

    def open(
        self, path: Path, read_only: bool, deadline: float, connect: Callable[..., Any]
    ) -> tuple[Any, str]:
        """Connect in the mode the gate allows now; raise duckdb.Error if the file is locked."""
        me = threading.get_ident()
        with self._cond:
            if read_only:
                # A writer of this process waiting for its readers goes first: a new read (of a
                # thread that holds none) waits until the writer has the file, then shares it.
                while self.waiting and not self.read_write and not self._reading.get(me):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, 0.5))
                if self.read_write:
                    # Our own writer has the database open: a second connection to it reads
                    # committed data without touching the file lock.
                    con = connect(str(path), read_only=False)
                    self.read_write += 1
                    return con, "shared"
                con = connect(str(path), read_only=True)
                self.read_only += 1
                self._reading[me] = self._reading.get(me, 0) + 1
                return con, "read"
            if self._reading.get(me):
                raise WarehouseError(
                    "a write was asked for while this thread still reads the "
                    "warehouse; close the read first"
                )
            self.waiting += 1
            try:
                while self.read_only:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise WarehouseBusyError(
                            f"{path}: this process's own readers did not close"
                        )
                    self._cond.wait(min(remaining, 1.0))
                con = connect(str(path), read_only=False)
            finally:
                self.waiting -= 1
            self.read_write += 1
            self.writers += 1
            self._cond.notify_all()
            return con, "write"

    def committed(self) -> None:
        """Count a write transaction of this process as committed."""
        with self._cond:
            self.commits += 1

    def close(self, con: Any, mode: str) -> None:
        """Close a connection opened through the gate."""
        with self._cond:
            try:
                con.close()
            finally:
                if mode == "read":
                    self.read_only -= 1
                    me = threading.get_ident()
                    self._reading[me] -= 1
                    if not self._reading[me]:
                        del self._reading[me]
                else:
                    self.read_write -= 1
                    self.writers -= mode == "write"
                self._cond.notify_all()


_GATES: dict[str, ProcessGate] = {}
_GATES_LOCK = threading.Lock()


def gate_of(path: Path) -> ProcessGate:
    key = str(path.resolve())
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = ProcessGate()
        return gate


def writer_flag(path: Path) -> Path:
    """The file a writer leaves beside the warehouse while it waits for it or holds it (it holds
    the writer's pid): readers of other processes that see it let the writer go first."""
    return path.with_name(f"{path.name}.writer-waiting")


def lower(flagged: list[Path]) -> None:
    for flag in flagged:
        with suppress(OSError):
            flag.unlink()
    flagged.clear()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
