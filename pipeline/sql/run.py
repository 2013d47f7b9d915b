"""Running an analyst's query so that Ctrl-C (or SIGTERM) stops it, and its errors read as one line.

Python runs signal handlers on the main thread only, between bytecodes; a long DuckDB call never
returns to the interpreter, so a handler waiting behind it never runs. The query therefore runs
on a worker thread while the main thread waits in short joins, ready to run the handler, which
asks DuckDB to interrupt the statement.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from pipeline.errors import NewswatchError, QueryInterruptedError
from pipeline.sql.guard import describe_failure

T = TypeVar("T")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: How often the main thread wakes while it waits (and re-sends an interrupt once asked).
_POLL_S = 0.1


def run_interruptible(work: Callable[[], T], interrupt: Callable[[], None]) -> T:
    """Run `work` on a worker thread; on SIGINT or SIGTERM call `interrupt` and stop waiting."""
    outcome: dict[str, Any] = {}
    received: list[int] = []

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread, which decides what to say
            outcome["error"] = exc

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        interrupt()

    worker = threading.Thread(target=target, name="newswatch-sql", daemon=True)
    previous = _install(on_signal)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(_POLL_S)
            if received and worker.is_alive():
                # A signal that came before DuckDB started the statement found nothing to stop.
                interrupt()
    finally:
        _restore(previous)
    if received:
        raise QueryInterruptedError(f"query interrupted ({signal.Signals(received[0]).name})")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_query(work: Callable[[], T], interrupt: Callable[[], None]) -> T:
    """Run a query interruptibly; a database error becomes one NewswatchError line."""
    try:
        return run_interruptible(work, interrupt)
    except NewswatchError:
        raise
    except Exception as exc:  # DuckDB's own message is what the analyst needs
        raise NewswatchError(f"query failed: {describe_failure(exc)}") from None


def _install(handler: Callable[[int, FrameType | None], None]) -> dict[int, Any] | None:
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers; signals keep their defaults
    # A signal the parent chose to ignore (a background job in a script: SIGINT) stays ignored.
    return {
        signum: signal.signal(signum, handler)
        for signum in _SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }


def _restore(previous: dict[int, Any] | None) -> None:
    for signum, handler in (previous or {}).items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
