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
