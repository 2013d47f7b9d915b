"""Process locks: one daemon per warehouse, a crashed holder never leaves a stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipeline.app.lock import JobLockTimeout, daemon_lock, job_lock, lock_path, read_holder
from pipeline.errors import DaemonRunningError


@contextmanager
def hold(path, kind: str) -> Iterator[subprocess.Popen]:
    """Another process holding the lock `kind` of the warehouse at `path` until it is killed
    (at the latest when the block ends)."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pipeline.app.lock import {kind}
        args = (Path({str(path)!r}),) + (("ingest",) if "{kind}" == "job_lock" else ())
        with {kind}(*args):
            print("held", flush=True)
            time.sleep(60)
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout.readline().strip() == "held"
            yield proc
        finally:
            proc.kill()


def test_second_daemon_is_refused_naming_the_first(tmp_path):
    wh = tmp_path / "w.duckdb"
    with hold(wh, "daemon_lock") as holder:
        with pytest.raises(DaemonRunningError) as err, daemon_lock(wh):
            pass
        assert f"pid {holder.pid}" in str(err.value)


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path):
    wh = tmp_path / "w.duckdb"
    with hold(wh, "daemon_lock") as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # The dead daemon's record is still in the file, but its lock died with it: the next daemon
    # starts at once, records itself, and holds the lock against a third.
    path = lock_path(wh, "daemon")
    assert read_holder(path)["pid"] == holder.pid
    with daemon_lock(wh):
        assert read_holder(path)["pid"] == os.getpid()
        with pytest.raises(DaemonRunningError, match=f"pid {os.getpid()} "), daemon_lock(wh):
            pass


def test_job_lock_waits_then_gives_up_with_the_holder_named(tmp_path):
    wh = tmp_path / "w.duckdb"
    waited: list[str] = []
    with (
        hold(wh, "job_lock") as holder,
        pytest.raises(JobLockTimeout, match=f"ingest pid {holder.pid}"),
        job_lock(wh, "retag", wait_s=0.5, on_wait=waited.append),
    ):
        pass
    assert len(waited) == 1 and f"ingest pid {holder.pid}" in waited[0]
    # Once the holder is gone the lock is taken at once.
    with job_lock(wh, "retag", wait_s=0) as abandoned:
        assert abandoned is not None and abandoned["pid"] == holder.pid
