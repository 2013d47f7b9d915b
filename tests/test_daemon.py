"""The daemon as users run it: scheduled polling, one instance, clean shutdown, status, and a
warehouse analysts can hold open while a job waits to write."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from pipeline.store.db import Warehouse
from pipeline.testkit.server import rss
from tests.helpers import article_page, paragraphs, write_feeds

pytestmark = [pytest.mark.model, pytest.mark.slow]


def start_daemon(settings, *extra) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--config",
            settings.source,
            "--log-format",
            "json",
            *extra,
            "run",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def query(settings, sql, timeout=60.0):
    """Read the warehouse the way an analyst would, retrying while a job writes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Warehouse(settings.warehouse.path).connect(read_only=True, wait_s=5) as db:
                return db.rows(sql)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def wait_for(predicate, timeout=120.0, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout=30.0) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, time.monotonic() - started, err


def site(loopback, n=6, delay=0.0):
    items = []
    for i in range(n):
        loopback.route(
            f"/p/{i}.html",
            article_page(f"Story number {i}", paragraphs(f"story {i} about ports")),
            delay_s=delay,
        )
        items.append(
            {
                "title": f"Story number {i}",
                "link": loopback.url(f"/p/{i}.html"),
                "guid": f"g{i}",
                "description": f"Teaser {i}.",
            }
        )
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    return loopback.url("/feed.xml")


def daemon_settings(make_settings, extra=""):
    return make_settings(
        "[schedule]\npoll_interval_s = 1\npoll_jitter_s = 0\n"
        "[feeds]\ndefault_interval_s = 1\n" + extra
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page(url: str) -> dict:
    """A reading-room page's JSON twin (None while the server is not up yet)."""
    try:
        return httpx.get(url, timeout=10).json()
    except httpx.HTTPError:
        return {}


def test_scheduled_polls_store_articles_and_sigterm_exits_cleanly(make_settings, loopback):
    port = free_port()
    settings = daemon_settings(make_settings, f"[web]\nenabled = true\nport = {port}\n")
    write_feeds(settings, [site(loopback)])
    daemon = start_daemon(settings)
    try:
        wait_for(
            lambda: (
                query(settings, "SELECT count(*) FROM articles WHERE source = 'feed'")[0][0] == 6
            )
        )
        # The daemon serves the reading room beside its jobs: the articles it stored are there.
        front = wait_for(lambda: page(f"http://127.0.0.1:{port}/.json?all=1"))
        assert front["latest_id"] >= 6
        feeds = page(f"http://127.0.0.1:{port}/feeds.json")
        assert [f["health"] for f in feeds["feeds"]] == ["healthy"]
        # Several cycles run on the schedule; every run is recorded.
        wait_for(
            lambda: (
                query(settings, "SELECT count(*) FROM runs WHERE job = 'ingest' AND status = 'ok'")[
                    0
                ][0]
                >= 3
            )
        )
        # A second daemon on the same warehouse is refused at once, naming the first.
        second = start_daemon(settings)
        out, err = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"pid {daemon.pid}" in err and "already runs" in err and "Traceback" not in err
        # Status sees the running daemon and its next jobs.
        status = subprocess.run(
            [sys.executable, "-m", "pipeline", "--config", settings.source, "status"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and "daemon running" in status.stdout
        assert "poll feeds" in status.stdout and "weekly digest" in status.stdout
        # The feed was edited: the change is picked up without a restart.
        loopback.route(
            "/more.xml",
            rss(
                [
                    {
                        "title": "Late story",
                        "guid": "late",
                        "link": loopback.url("/p/0.html?utm_source=more"),
                        "description": "Late.",
                    }
                ]
            ),
            content_type="application/rss+xml",
        )
        write_feeds(settings, [loopback.url("/feed.xml"), loopback.url("/more.xml")])
        wait_for(
            lambda: (
                query(
                    settings,
                    "SELECT count(*) FROM feed_entries e JOIN feeds f ON "
                    "f.id = e.feed_id WHERE f.url LIKE '%more.xml'",
                )[0][0]
                == 1
            )
        )
    finally:
        code, took, err = stop(daemon)
    assert code == 0 and took < 30
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    jobs = [line for line in lines if line.get("job") == "ingest"]
    assert jobs and all("counts" in j for j in jobs)
    assert query(settings, "SELECT count(*) FROM articles WHERE source = 'feed'")[0][0] == 6


def test_sigterm_during_a_batch_leaves_nothing_partial(make_settings, loopback):
    settings = daemon_settings(make_settings, "[ingest]\nbatch_size = 2\n")
    write_feeds(settings, [site(loopback, n=20, delay=0.4)])
    daemon = start_daemon(settings)
    pages = [f"/p/{i}.html" for i in range(20)]
    try:
        # Stop once a few pages have been asked for: the ingest is then mid-way on any machine.
        # (Polling the warehouse instead raced the writer: on a slow machine the reader waited
        # out the whole ingest before it got in.)
        wait_for(lambda: sum(len(loopback.hits(p)) for p in pages) >= 4, step=0.05)
    finally:
        code, took, _ = stop(daemon)
    assert code == 0 and took < 30
    partial = query(
        settings,
        "SELECT count(*) FROM articles a WHERE a.source = 'feed' AND ("
        "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.article_id = a.id) OR "
        "NOT EXISTS (SELECT 1 FROM feed_entries f WHERE f.article_id = a.id))",
    )
    stored = query(settings, "SELECT count(*) FROM articles WHERE source = 'feed'")[0][0]
    assert partial[0][0] == 0 and stored < 20
    # The next run completes the work, storing every article once.
    daemon = start_daemon(settings)
    try:
        wait_for(
            lambda: (
                query(settings, "SELECT count(*) FROM articles WHERE source = 'feed'")[0][0] == 20
            ),
            timeout=180,
        )
    finally:
        stop(daemon)
    assert (
        query(settings, "SELECT count(DISTINCT canonical_url) FROM articles WHERE source = 'feed'")[
            0
        ][0]
        == 20
    )


HOLD = textwrap.dedent("""
    import duckdb, sys
    con = duckdb.connect(sys.argv[1], read_only=True)
    con.execute("SELECT count(*) FROM articles").fetchall()
    print("holding", flush=True)
    sys.stdin.readline()
    print(con.execute("SELECT count(*) FROM articles WHERE source = 'feed'").fetchone()[0],
          flush=True)
    sys.stdin.readline()
""")


def test_a_reader_holding_the_warehouse_delays_but_loses_nothing(make_settings, loopback):
    settings = daemon_settings(make_settings)
    feed = site(loopback, n=4)
    write_feeds(settings, [feed])
    # Initialise first (the daemon would otherwise create the file under the reader).
    init = subprocess.run(
        [sys.executable, "-m", "pipeline", "--config", settings.source, "init"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert init.returncode == 0, init.stderr
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.warehouse.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "holding"
    loopback.reset_log()
    daemon = start_daemon(settings)
    try:
        # The cycle fetches the known feed and its pages while the reader holds the file...
        wait_for(lambda: len(loopback.hits("/p/3.html")) == 1, timeout=90)
        time.sleep(1.5)
        assert daemon.poll() is None
        # ...and nothing is written until the reader lets go.
        reader.stdin.write("count\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "0"
        reader.stdin.write("\n")
        reader.stdin.flush()
        reader.wait(timeout=30)
        wait_for(
            lambda: (
                query(settings, "SELECT count(*) FROM articles WHERE source = 'feed'")[0][0] == 4
            )
        )
        # Two more polls of the feed run: nothing is stored twice.
        polled = len(loopback.hits("/feed.xml"))
        wait_for(lambda: len(loopback.hits("/feed.xml")) >= polled + 2, timeout=60, step=0.2)
    finally:
        code, _, err = stop(daemon)
        if reader.poll() is None:
            reader.kill()
            reader.wait(30)
        reader.stdin.close()
        reader.stdout.close()
    assert code == 0
    assert "warehouse busy" in err
    assert query(
        settings,
        "SELECT count(*), count(DISTINCT canonical_url) FROM articles WHERE source = 'feed'",
    )[0] == (4, 4)
