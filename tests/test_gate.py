"""Writers go first: readers arriving while a writer waits for the file let it in (in this process
through the gate, across processes through the waiting writer's flag)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from pipeline.store.db import Warehouse
from pipeline.store.gate import writer_flag


def test_a_new_reader_lets_a_waiting_writer_of_its_process_in_first(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    order: list[str] = []
    first_read = threading.Event()
    writer_waits = threading.Event()

    def long_read() -> None:
        with wh.connect(read_only=True):
            first_read.set()
            writer_waits.wait(10)
            time.sleep(0.3)  # the writer is waiting for this read to end
            order.append("first read ends")

    def write() -> None:
        first_read.wait(10)
        writer_waits.set()
        with wh.connect(wait_s=10) as db:
            order.append("write")
            time.sleep(0.2)
            db.execute("INSERT INTO runs (job, started_at, status) VALUES ('w', now(), 'ok')")

    def late_read() -> None:
        writer_waits.wait(10)
        time.sleep(0.1)  # after the writer started waiting
        with wh.connect(read_only=True, wait_s=10):
            # It got in only once the writer had the file (and shares it): the writer went first.
            order.append("late read beside the write" if wh.writing else "late read")

    threads = [threading.Thread(target=f) for f in (long_read, write, late_read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert order[0] == "first read ends"
    assert sorted(order[1:]) == ["late read beside the write", "write"]


def test_readers_yield_to_another_process_writer_that_waits(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    flag = writer_flag(wh.path)
    waiting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        flag.write_text(str(waiting.pid), encoding="ascii")
        started = time.monotonic()
        wh.yield_to_writer(0.5)
        assert 0.45 <= time.monotonic() - started < 5  # waited for the writer, bounded
        flag.unlink()
        started = time.monotonic()
        wh.yield_to_writer(5)
        assert time.monotonic() - started < 0.5  # no writer waiting: at once
    finally:
        waiting.kill()
        waiting.wait()
    # A flag left by a writer that died is no reason to wait.
    flag.write_text(str(waiting.pid), encoding="ascii")
    started = time.monotonic()
    wh.yield_to_writer(5)
    assert time.monotonic() - started < 0.5


def test_a_writer_that_waits_for_another_process_reader_raises_its_flag(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(wh.path)!r}, read_only=True); "
            "print('held', flush=True); time.sleep(1.0); c.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: list[bool] = []
    try:
        assert reader.stdout.readline().strip() == "held"
        watcher = threading.Thread(
            target=lambda: (time.sleep(0.4), seen.append(writer_flag(wh.path).exists()))
        )
        watcher.start()
        with wh.connect(wait_s=20):
            pass
        watcher.join(10)
    finally:
        reader.wait(10)
        reader.stdout.close()
    assert seen == [True]  # raised while it waited
    assert not writer_flag(wh.path).exists()  # and lowered once it had the file


def test_a_writer_flags_the_file_while_it_holds_it(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    with wh.transaction():
        # Readers of other processes see it and let it finish (or answer from a recent reading).
        assert writer_flag(wh.path).read_text(encoding="ascii") == str(os.getpid())
        assert not wh.other_writer()  # this process's own readers share the open file instead
    assert not writer_flag(wh.path).exists()


def test_a_write_is_in_the_file_when_it_ends_while_this_process_still_reads(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    wal = wh.path.with_name(wh.path.name + ".wal")
    opened, release = threading.Event(), threading.Event()

    def page() -> None:
        with wh.connect(read_only=True, wait_s=5) as db:  # shares the writer's open database
            opened.set()
            release.wait(10)
            db.scalar("SELECT count(*) FROM feeds")

    reader = threading.Thread(target=page)
    with wh.transaction() as db:
        reader.start()
        assert opened.wait(10)
        db.execute(
            "INSERT INTO feeds (url, config_url) VALUES ('https://a.example/f', 'https://a.example/f')"
        )
    try:
        # Written through before the writer let go, not left in the log for whoever closes last
        # (a page would then wait for that checkpoint with the gate held).
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        release.set()
        reader.join(10)
    with wh.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM feeds") == 1
