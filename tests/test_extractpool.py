"""Page extraction in worker processes: the same extract as in-process, and a worker that dies is
replaced without stopping the ingest process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from pipeline.extract.article import extract_page
from pipeline.extract.pool import Extractor
from pipeline.testkit.pages import article_page, paragraphs

URL = "https://news.example.org/2026/11/spacety-imagery.html"
PAGE = article_page(
    "Spacety imagery reached Wagner, Treasury says", paragraphs("satellite imagery sanctions")
).encode()


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def workers():
    extractor = Extractor(1)
    yield extractor
    extractor.close()


def test_a_worker_process_extracts_what_the_ingest_process_would(workers):
    page, seconds = run(workers.extract(PAGE, URL, "text/html; charset=utf-8"))
    assert page == extract_page(PAGE, URL, content_type="text/html; charset=utf-8")
    assert page is not None and "Spacety" in (page.title or "") and seconds >= 0
    pids = {p.pid for p in workers._pool()._processes.values()}
    assert pids and os.getpid() not in pids  # really another process


def test_a_dead_worker_is_replaced_and_the_next_page_is_extracted(workers, caplog):
    assert run(workers.extract(PAGE, URL))[0] is not None
    [proc] = workers._pool()._processes.values()
    os.kill(proc.pid, signal.SIGKILL)  # as a parser crash (segfault) would
    proc.join(timeout=30)
    with caplog.at_level(logging.WARNING, logger="pipeline.extract.pool"):
        page, _ = run(workers.extract(PAGE, URL))
    assert page is not None and "Spacety" in (page.title or "")
    assert any("worker died" in r.getMessage() for r in caplog.records)
    [replacement] = workers._pool()._processes.values()
    assert replacement.pid != proc.pid


def test_zero_workers_extract_in_threads_of_the_ingest_process():
    extractor = Extractor(0)
    try:
        page, _ = run(extractor.extract(PAGE, URL))
        assert page == extract_page(PAGE, URL)
        assert not hasattr(extractor._pool(), "_processes")
    finally:
        extractor.close()


KILLED_INGEST = """
import sys
from pipeline.config.settings import load_settings
from pipeline.ingest import Services, run_cycle
from pipeline.testkit.fakes import FakeEmbedder

services = Services(load_settings(sys.argv[1], env={}), embedder=FakeEmbedder())
services.warehouse.migrate()
run_cycle(services, feeds=[sys.argv[2]])
"""


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (pid -> child pids)."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process tree from /proc")
def test_a_sigkilled_ingest_leaves_no_extraction_worker_behind(make_settings, loopback):
    import subprocess
    import sys
    import time

    from pipeline.testkit.server import rss
    from tests.helpers import child_env

    settings = make_settings("[ingest]\nextract_workers = 1\n")
    # The pages answer slowly: the cycle is under way, its worker up, when it is killed.
    for i in range(3):
        loopback.route(f"/p{i}.html", PAGE, delay_s=20 if i else 0)
    items = [
        {"title": f"t{i}", "link": loopback.url(f"/p{i}.html"), "guid": f"{i}"} for i in range(3)
    ]
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, settings.source, loopback.url("/feed.xml")],
        env=child_env(),
    )
    try:
        deadline = time.monotonic() + 90
        while not (loopback.hits("/p1.html") and _descendants(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the ingest did not start"
            time.sleep(0.2)
        time.sleep(1.0)  # the first page is extracted by now: the worker is busy or idle
        family = _descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert family, "no extraction worker was started"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in family if _alive(pid)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the killed ingest still running: {left}"
