"""Polling benchmark: 500 feeds on a loopback server, most answering 304, some 200 with 20 new
entries; one cycle at concurrency 16. Prints cycle wall time, requests/s and peak RSS.

    .venv/bin/python bench/poll.py [--feeds 500] [--changed 25] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import UTC, datetime

from pipeline.config.settings import load_settings, with_overrides
from pipeline.feeds.poll import poll_feed
from pipeline.models import FeedState
from pipeline.net.http import Fetcher
from pipeline.testkit.server import LoopbackServer, rss


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def cycle(settings, feeds):
    now = datetime.now(UTC)
    async with Fetcher(settings.http) as fetcher:
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(poll_feed(fetcher, f, settings.feeds, now) for f in feeds)
        )
        return time.perf_counter() - started, outcomes, fetcher.requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--changed", type=int, default=25, help="feeds answering 200 with new items")
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    settings = with_overrides(
        load_settings(env={}), http={"concurrency": args.concurrency, "per_host_delay_s": 0.0}
    )
    with LoopbackServer() as server:
        feeds = []
        for i in range(args.feeds):
            items = [
                {
                    "title": f"Feed {i} item {j}",
                    "guid": f"{i}-{j}",
                    "link": f"http://news{i}.example/{j}",
                    "description": f"Item {j} text.",
                }
                for j in range(20)
            ]
            server.route(
                f"/feed/{i}.xml", rss(items), content_type="application/rss+xml", etag=f'"v{i}"'
            )
            # Unchanged feeds send the ETag we stored: they answer 304.
            etag = None if i < args.changed else f'"v{i}"'
            feeds.append(
                FeedState(
                    id=i,
                    url=server.url(f"/feed/{i}.xml"),
                    config_url=server.url(f"/feed/{i}.xml"),
                    etag=etag,
                )
            )
        wall, outcomes, requests = asyncio.run(cycle(settings, feeds))
        unchanged = [f for f in feeds if f.etag]
        wall_304, outcomes_304, _ = asyncio.run(cycle(settings, unchanged))
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    entries = sum(len(o.entries) for o in outcomes)
    print(
        f"feeds: {args.feeds} ({args.changed} changed with 20 entries each), "
        f"concurrency {args.concurrency}, per-host limit {settings.http.per_host_concurrency}"
    )
    print(
        f"mixed cycle:     {wall:.2f} s, {requests / wall:.0f} requests/s, statuses {by_status}, "
        f"{entries} entries parsed"
    )
    print(
        f"unchanged cycle: {len(unchanged)} feeds answering 304 in {wall_304:.2f} s "
        f"({len(unchanged) / wall_304:.0f} requests/s)"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
