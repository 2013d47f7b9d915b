"""Process locks: one daemon per warehouse, a crashed holder never leaves a stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pipeline.app.lock import JobLockTimeout, daemon_lock, job_lock, lock_path, read_holder
from pipeline.errors import DaemonRunningError


def hold(path, kind: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pipeline.app.lock import {kind}
        args = (Path({str(path)!r}),) + (("ingest",) if "{kind}" == "job_lock" else ())
        with {kind}(*args):
            print("held", flush=True)
            time.sleep(60)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_daemon_is_refused_naming_the_first(tmp_path):
    wh = tmp_path / "w.duckdb"
    holder = hold(wh, "daemon_lock")
    try:
        with pytest.raises(DaemonRunningError) as err, daemon_lock(wh):
            pass
        assert f"pid {holder.pid}" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path):
    wh = tmp_path / "w.duckdb"
    holder = hold(wh, "daemon_lock")
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
    holder = hold(wh, "job_lock")
    waited = []
    try:
        with (
            pytest.raises(JobLockTimeout, match=f"ingest pid {holder.pid}"),
            job_lock(wh, "retag", wait_s=0.5, on_wait=waited.append),
        ):
            pass
        assert waited
    finally:
        holder.kill()
        holder.wait()
    with job_lock(wh, "retag", wait_s=1):
        pass
