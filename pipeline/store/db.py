"""The only module that imports duckdb: opening the warehouse, transactions (the migrations are
pipeline/store/schema.py's).

DuckDB lets one process write or many processes read a file, never both at once. The daemon
therefore never keeps the file open: every unit of work opens it, does its work in one
transaction and closes it, so analysts' read-only clients can open it between jobs. When a reader
holds the file, a writer waits and retries with backoff, and says so in the log.

Within one process DuckDB also refuses a read-only and a read-write connection to the same file
at the same time, so this process's own connections pass a gate (pipeline/store/gate.py), which
also lets a writer go before new readers, in this process and across processes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from pipeline.errors import WarehouseBusyError, WarehouseError, first_line
from pipeline.retry import backoff
from pipeline.store import schema
from pipeline.store.gate import alive, gate_of, lower, writer_flag

log = logging.getLogger(__name__)

_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\))", re.S)


class Db:
    """A thin wrapper over one open connection: typed helpers for the store modules."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, read_only: bool, path: Path | None = None
    ) -> None:
        self._con = con
        self.read_only = read_only
        self.path = path  # the warehouse file (None: not known)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """Run one statement (or several, without parameters)."""
        try:
            return self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        except duckdb.Error as exc:
            raise _translate(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        if not rows:
            return
        try:
            self._con.executemany(sql, rows)
        except duckdb.Error as exc:
            raise _translate(exc) from exc

    def insert_columns(self, table: str, columns: dict[str, Any]) -> None:
        """Bulk insert column-wise data through Arrow (2-D float arrays become FLOAT[] vectors).

        executemany converts every parameter row on its own (about 40 ms per row holding a
        384-float list); one Arrow table is scanned by DuckDB directly, a thousand times faster.
        """
        import pyarrow as pa  # heavy (~0.1 s): only writers and vector reads need it

        arrays = {}
        vectors = set()
        for name, values in columns.items():
            if isinstance(values, np.ndarray) and values.ndim == 2:
                flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).ravel())
                arrays[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
                vectors.add(name)
            else:
                arrays[name] = pa.array(list(values))
        data = pa.table(arrays)
        if data.num_rows == 0:
            return
        view = f"_newswatch_insert_{id(data)}"
        names = ", ".join(f'"{c}"' for c in columns)
        select = ", ".join(f'"{c}"::FLOAT[]' if c in vectors else f'"{c}"' for c in columns)
        try:
            self._con.register(view, data)
            self._con.execute(f"INSERT INTO {table} ({names}) SELECT {select} FROM {view}")
        except duckdb.Error as exc:
            raise _translate(exc) from exc
        finally:
            self._con.unregister(view)

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """All result rows as tuples."""
        return self.execute(sql, params).fetchall()

    def dicts(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """All result rows as dicts keyed by column name."""
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple | None:
        """The first row, or None."""
        return self.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    def columns_and_rows(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Column names and rows of a query (for `newswatch sql`)."""
        cur = self.execute(sql)
        if cur.description is None:
            return [], []
        return [d[0] for d in cur.description], cur.fetchall()

    def arrow_table(self, sql: str) -> Any:
        """The result of a query as a pyarrow Table (for `newswatch sql --output`)."""
        try:
            return self.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise _translate(exc) from exc

    def interrupt(self) -> None:
        """Stop the statement running on this connection; safe to call from another thread."""
        self._con.interrupt()

    def statement_types(self, sql: str) -> list[str]:
        """The DuckDB statement type of each statement in `sql`, without running it."""
        try:
            return [s.type.name for s in self._con.extract_statements(sql)]
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot parse query: {first_line(exc)}") from None

    def fetch_vectors(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list, Any]:
        """Rows of (key, FLOAT[] vector) as a key list and a float32 matrix."""
        import pyarrow.compute as pc  # heavy: see insert_columns

        # Through Arrow: a million 384-float vectors as Python lists would take ~12 GB.
        try:
            table = self.execute(sql, params).to_arrow_table()
        except duckdb.Error as exc:
            raise _translate(exc) from exc
        if table.num_rows == 0:
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = table.column(table.num_columns - 1).combine_chunks()
        lengths = pc.list_value_length(vectors)
        if pc.min(lengths).as_py() != pc.max(lengths).as_py():
            raise WarehouseError("stored vectors of different lengths in one query")
        matrix = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        matrix = matrix.reshape(table.num_rows, -1)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns - 1)]
        keys = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
        return keys, matrix


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _translate(exc: duckdb.Error) -> Exception:
    if _is_lock_error(exc):
        return WarehouseBusyError(first_line(exc))
    return exc


def _write_through(db: Db) -> None:
    """Write a committed transaction into the file before the connection closes.

    Closing the last connection makes DuckDB write the WAL into the file, and the gate closes
    connections under its lock, so this process's readers (the reading room's pages) would wait
    the whole checkpoint: about 0.4 s after a batch at 100,000 articles. Run here, while the
    writer still holds its turn, the checkpoint lets readers of the shared database go on (they
    read the last committed data), and the close that follows is a few milliseconds.
    """
    try:
        db.execute("CHECKPOINT")
    except (duckdb.Error, WarehouseError) as exc:
        # Another write transaction of this process is open: the last close writes it all.
        log.debug("checkpoint left to the close: %s", first_line(exc))


def lock_holder(exc: BaseException) -> str:
    """Name the process holding the warehouse lock, from DuckDB's message."""
    match = _LOCK_RE.search(str(exc))
    return match["holder"].strip() if match else "another process"


class Warehouse:
    """The DuckDB file: opened per unit of work, never held between jobs."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 600.0,
        on_busy: Callable[[str, float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._on_busy = on_busy
        # Set by a daemon that is shutting down: stop waiting for a busy file at once.
        self.stop = stop

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.is_file()

    @property
    def writing(self) -> bool:
        """Whether this process has the file open for writing now."""
        return gate_of(self.path).writers > 0

    def _open(self, read_only: bool, wait_s: float | None) -> tuple[duckdb.DuckDBPyConnection, str]:
        if read_only and not self.exists():
            raise WarehouseError(f"{self.path}: no warehouse here; run `newswatch init` first")
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WarehouseError(f"{self.path}: cannot create folder: {exc}") from None
        budget = self.busy_timeout_s if wait_s is None else wait_s
        deadline = time.monotonic() + budget
        gate = gate_of(self.path)

        # A writer flags the file while it waits for it and while it holds it, so that readers
        # of other processes (the reading room's pages) let it go first, and know what they
        # would wait for (pipeline/store/gate.py).
        flagged: list[Path] = [] if read_only else [self._raise_writer_flag()]

        def announce(_attempt: int, exc: BaseException, wait: float) -> None:
            if self._on_busy is not None:
                self._on_busy(lock_holder(exc), wait)
            else:
                log.info("warehouse busy (held by %s); retrying in %.1f s", lock_holder(exc), wait)

        try:
            for attempt in backoff(
                first_s=0.05,
                max_s=5.0,
                within_s=budget,
                retry_if=_is_lock_error,
                on_retry=announce,
                stop=self.stop,
            ):
                with attempt:
                    con, mode = gate.open(self.path, read_only, deadline, duckdb.connect)
        except BaseException as exc:
            if not gate.writers:
                lower(flagged)
            if not isinstance(exc, duckdb.Error):
                raise
            if not _is_lock_error(exc):
                raise WarehouseError(
                    f"{self.path}: cannot open warehouse: {first_line(exc)}"
                ) from None
            if self.stop is not None and self.stop.is_set():
                raise WarehouseBusyError(
                    f"{self.path}: warehouse is locked by "
                    f"{lock_holder(exc)} and newswatch is stopping"
                ) from None
            raise WarehouseBusyError(
                f"{self.path}: warehouse is locked by {lock_holder(exc)}; "
                f"gave up after {budget:.0f} s"
            ) from None
        try:
            # Timestamps print and truncate (weeks, days) in UTC whatever the host's zone.
            con.execute("SET TimeZone = 'UTC'")
        except BaseException:
            self._close(con, mode)
            raise
        return con, mode

    def _close(self, con: duckdb.DuckDBPyConnection, mode: str) -> None:
        gate = gate_of(self.path)
        gate.close(con, mode)
        if mode == "write" and not gate.writers:
            lower([writer_flag(self.path)])

    def _raise_writer_flag(self) -> Path:
        flag = writer_flag(self.path)
        try:
            flag.write_text(str(os.getpid()), encoding="ascii")
        except OSError as exc:  # a read-only folder: readers then simply do not yield
            log.debug("cannot flag the waiting writer: %s", exc)
        return flag

    def other_writer(self) -> bool:
        """Whether a writer of another process waits for this file or holds it (its flag)."""
        try:
            pid = int(writer_flag(self.path).read_text(encoding="ascii"))
        except (OSError, ValueError):
            return False
        return pid != os.getpid() and alive(pid)

    def yield_to_writer(self, wait_s: float) -> None:
        """Wait (up to `wait_s`) while another process's writer waits for this file or holds it,
        so that a reader opening it now does not keep the daemon's batch waiting behind it (and
        opens it as soon as the batch is done: the flag is looked at every 50 ms)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self.other_writer():
            time.sleep(0.05)

    @property
    def commits(self) -> int:
        """Write transactions this process has committed to the file since it started."""
        return gate_of(self.path).commits

    @contextmanager
    def connect(self, *, read_only: bool = False, wait_s: float | None = None) -> Iterator[Db]:
        """Open the file for one unit of work and close it afterwards."""
        con, mode = self._open(read_only, wait_s)
        try:
            yield Db(con, read_only, self.path)
        finally:
            self._close(con, mode)

    @contextmanager
    def query_connection(self, *, wait_s: float | None = None) -> Iterator[Db]:
        """Open the file read-only for an analyst's query, sandboxed to the warehouse alone."""
        with self.connect(read_only=True, wait_s=wait_s) as db:
            # Disabled once the file and its WAL are open (and TimeZone set): from here no
            # statement or table function reads or writes any other file or loads an extension.
            # The lock keeps the query itself from turning either setting back. Both belong to
            # the database instance, which DuckDB shares between the connections one process
            # opens on the same file: `newswatch sql` opens no other.
            db.execute("SET enable_external_access = false")
            db.execute("SET lock_configuration = true")
            yield db

    @contextmanager
    def transaction(self, *, wait_s: float | None = None) -> Iterator[Db]:
        """Open the file for writing and run the block in one transaction (all or nothing)."""
        with self.connect(wait_s=wait_s) as db:
            db.execute("BEGIN TRANSACTION")
            try:
                yield db
            except BaseException:
                # The connection may already be gone; closing it discards the transaction.
                with suppress(Exception):
                    db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
                gate_of(self.path).committed()
                _write_through(db)

    # The schema's functions live in pipeline/store/schema.py (which names this module's types
    # for type checking only).

    def pending_migrations(self, db: Db) -> list[schema.Migration]:
        """Migrations not yet applied to this file."""
        return schema.pending_migrations(db)

    def migrate(self) -> list[str]:
        """Create or upgrade the schema; return the names of the migrations applied now."""
        return schema.migrate(self)

    def check_current(self) -> None:
        """Raise unless the file exists and every migration is applied."""
        schema.check_current(self)

    def checkpoint(self) -> None:
        """Write the WAL into the main file (maintenance)."""
        with self.connect() as db:
            db.execute("CHECKPOINT")
