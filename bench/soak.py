"""Soak test: the daemon (`newswatch run`, 1-second poll interval) against a loopback server
whose feeds gain new items every few cycles, for 300 cycles. Prints the daemon's RSS after
warm-up and at the end, total articles, errors, and whether any article was lost or stored
twice.

    .venv/bin/python bench/soak.py [--cycles 300] [--feeds 3] [--every 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pipeline.store.db import Warehouse
from pipeline.testkit.pages import article_page
from pipeline.testkit.server import LoopbackServer, rss

ROOT = Path(__file__).resolve().parents[1]

TOPICS = [
    "sanctions on a satellite firm",
    "a spy case in the space sector",
    "port congestion",
    "a new weather satellite",
    "export controls on chips",
    "a football transfer",
]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def query(path: Path, sql: str):
    for _ in range(200):
        try:
            with Warehouse(path).connect(read_only=True, wait_s=5) as db:
                return db.rows(sql)
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("warehouse stayed busy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--feeds", type=int, default=3)
    ap.add_argument("--every", type=int, default=5, help="seconds between new items per feed")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-soak-"))
    warehouse = tmp / "soak.duckdb"
    published: set[str] = set()
    with LoopbackServer() as server:
        items: dict[int, list[dict]] = {f: [] for f in range(args.feeds)}
        lock = threading.Lock()
        stop = threading.Event()

        def publish() -> None:
            n = 0
            while not stop.is_set():
                with lock:
                    for f in range(args.feeds):
                        n += 1
                        topic = TOPICS[n % len(TOPICS)]
                        path = f"/a/{f}/{n}.html"
                        paras = [
                            f"Report {n}: {topic}, part {i}, with details {n * 31 + i} "
                            f"that only this report has, item {n}-{i}."
                            for i in range(6)
                        ]
                        server.route(path, article_page(f"Report {n} on {topic}", paras))
                        items[f].insert(
                            0,
                            {
                                "title": f"Report {n} on {topic}",
                                "guid": f"{f}-{n}",
                                "link": server.url(path),
                                "description": f"Report {n}.",
                            },
                        )
                        del items[f][20:]  # feeds show their newest 20 entries
                        published.add(server.url(path))
                        server.route(
                            f"/feed/{f}.xml",
                            rss(items[f]),
                            etag=f'"{n}"',
                            content_type="application/rss+xml",
                        )
                stop.wait(args.every)

        feeds = "".join(
            f'[[feeds]]\nurl = "{server.url(f"/feed/{f}.xml")}"\ninterval_s = 1\n'
            for f in range(args.feeds)
        )
        (tmp / "feeds.toml").write_text(feeds)
        (tmp / "settings.toml").write_text(
            f'[warehouse]\npath = "{warehouse}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
            f'[seeds]\ndir = "{ROOT / "config" / "seeds"}"\n'
            f'[topics]\nfile = "{ROOT / "config" / "topics.toml"}"\n'
            f"[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\n"
            f"[schedule]\npoll_interval_s = 1\npoll_jitter_s = 0\n"
        )
        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        # The daemon writes its log through its own copy of the descriptor.
        with open(tmp / "daemon.log", "w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "--config", str(tmp / "settings.toml"), "run"],
                stdout=log,
                stderr=log,
                env=env,
            )
        started = time.monotonic()
        warm_rss = None
        cycles = 0
        while cycles < args.cycles:
            time.sleep(2)
            cycles = (
                query(warehouse, "SELECT count(*) FROM runs WHERE job = 'ingest'")[0][0]
                if warehouse.exists()
                else 0
            )
            if warm_rss is None and cycles >= 30:
                warm_rss = rss_mb(daemon.pid)
                print(f"warm-up done after {cycles} cycles: RSS {warm_rss:.0f} MB", flush=True)
            if daemon.poll() is not None:
                sys.exit(f"daemon exited early with {daemon.returncode}; see {tmp}/daemon.log")
        end_rss = rss_mb(daemon.pid)
        stop.set()
        publisher.join()
        time.sleep(3)  # let the last cycle store what was published last
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    elapsed = time.monotonic() - started
    stored = query(warehouse, "SELECT url FROM articles WHERE source = 'feed'")
    urls = [u for (u,) in stored]
    errors = query(warehouse, "SELECT count(*) FROM runs WHERE status <> 'ok'")[0][0]
    poll_errors = query(warehouse, "SELECT count(*) FROM feed_polls WHERE status = 'error'")[0][0]
    lost = len(published - set(urls))
    print(f"{cycles} ingest cycles in {elapsed:.0f} s; daemon exit code {code}")
    print(
        f"RSS after warm-up {warm_rss:.0f} MB, at the end {end_rss:.0f} MB "
        f"({100 * (end_rss - warm_rss) / warm_rss:+.1f} %)"
    )
    print(
        f"articles published {len(published)}, stored {len(urls)}, stored twice "
        f"{len(urls) - len(set(urls))}, not stored {lost}"
    )
    print(f"runs not ok: {errors}; failed feed polls: {poll_errors}; log: {tmp / 'daemon.log'}")


if __name__ == "__main__":
    main()
