"""The pairs' texts through the real pipeline, and the arrival schedules they follow (shared by
bench/story_eval.py, story_replay.py and story_cv.py, below all three).

`ingest` serves every distinct text of the pairs on loopback as a news page behind a feed and
runs real cycles (fetch, extract, embed, dedup, stories, tag, store) into a fresh warehouse with
the seeds loaded; a schedule says in which order and on which days the texts arrive.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.config.settings import load_settings
from pipeline.ingest import Services, run_cycle
from pipeline.ingest.upkeep import sync_seeds
from pipeline.testkit.embedcache import MODEL_CACHE
from pipeline.testkit.server import LoopbackServer
from pipeline.testkit.storypairs import StoryPair, pair_texts, serve_texts, text_key

ROOT = Path(__file__).resolve().parents[1]

DAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
#: The first day of the days-apart schedule (three weeks before DAY: all in the past).
DAYS_APART_START = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)


def make_services(tmp: Path, backend: str = "default", dedup: Sequence[str] = ()) -> Services:
    (tmp / "feeds.toml").write_text("")
    (tmp / "settings.toml").write_text(
        f'[warehouse]\npath = "{tmp / "stories.duckdb"}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
        f"max_entries_per_poll = 10000\n"
        f'[seeds]\ndir = "{ROOT / "config" / "seeds"}"\n'
        f'[topics]\nfile = "{ROOT / "config" / "topics.toml"}"\n'
        # One page at a time, in the feed's order: the arrival order is the one asked for.
        f"[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\nconcurrency = 1\n"
        f"per_host_concurrency = 1\n"
        + embed_section(backend)
        + ("[dedup]\n" + "".join(f"{kv}\n" for kv in dedup) if dedup else "")
    )
    services = Services(load_settings(tmp / "settings.toml", env={}))
    services.warehouse.migrate()
    sync_seeds(services)
    return services


def embed_section(spec: str) -> str:
    """[embed] settings of a backend spec (torch, onnx-fp32, onnx-int8; default: the shipped)."""
    section = f'[embed]\ncache_dir = "{MODEL_CACHE}"\n'  # the graph is exported once
    if spec == "default":
        return section
    backend, _, precision = spec.partition("-")
    return section + f'backend = "{backend}"\nprecision = "{precision or "fp32"}"\n'


def ingest(
    pairs: list[StoryPair],
    reverse: bool,
    backend: str = "default",
    dedup: Sequence[str] = (),
    schedule: str = "same-day",
):
    """Real cycles over the pairs' texts: {text key: (id, story, duplicate_of)}, the services
    (for the pairwise pass) and the seconds taken. `schedule` "same-day": one cycle, every
    text on one day; "days-apart": one cycle per publication day of `days_apart`, so the texts
    arrive in publication order, the two texts of a pair days apart."""
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-stories-"))
    services = make_services(tmp, backend, dedup)
    texts = pair_texts(pairs, reverse=reverse)
    if schedule == "same-day":
        days = [(None, texts)]
    else:
        lang = dict(pair_texts(pairs))
        by_key = {text_key(t): t for t, _ in texts}
        planned = days_apart(
            pairs, DAYS_APART_START, reverse, services.settings.dedup.story_window_days
        )
        days = []
        for key, when in planned:
            if not days or days[-1][0] != when.date():
                days.append((when.date(), []))
            days[-1][1].append((by_key[key], lang[by_key[key]], when))
    urls: dict[str, str] = {}
    elapsed = 0.0
    articles_new = 0
    with LoopbackServer() as server:
        for k, (_, some) in enumerate(days):
            if schedule == "same-day":
                feed, served = serve_texts(server, some, DAY, feed_path=f"/pairs-{k}.xml")
            else:
                # The feed lists the day's texts newest first, as a cycle reads them.
                some = sorted(some, key=lambda x: x[2], reverse=True)
                feed, served = serve_texts(
                    server,
                    [(t, lang) for t, lang, _ in some],
                    DAY,
                    feed_path=f"/pairs-{k}.xml",
                    times=[when for _, _, when in some],
                )
            urls.update(served)
            (tmp / "feeds.toml").write_text(f'[[feeds]]\nurl = "{feed}"\n')
            t0 = time.perf_counter()
            summary = run_cycle(services)
            elapsed += time.perf_counter() - t0
            articles_new += summary.articles_new
    by_url = {u: k for k, u in urls.items()}
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows("SELECT url, id, story_id, duplicate_of FROM articles WHERE source = 'feed'")
    stored = {by_url[u]: (int(i), int(s), d) for u, i, s, d in rows if u in by_url}
    if len(stored) < len(texts):
        print(
            f"  warning: {len(texts) - len(stored)} of {len(texts)} texts not stored "
            f"({articles_new} new articles)"
        )
    return stored, services, elapsed


# -- arrival schedules -----------------------------------------------------------------------


#: (text key, publication time) in arrival order.
Schedule = list[tuple[str, datetime]]


def same_day(pairs: Sequence[StoryPair], day: datetime, reverse: bool) -> Schedule:
    """Every text on one day, a second apart, pair by pair (or everything reversed)."""
    texts = pair_texts(pairs, reverse=reverse)
    return [(text_key(t), day + timedelta(seconds=k)) for k, (t, _) in enumerate(texts)]


def days_apart(
    pairs: Sequence[StoryPair], day: datetime, reverse: bool, window_days: int = 7
) -> Schedule:
    """The pairs spread over weeks: pair k's first text (its second, reversed) is published on
    day k mod 14 and the other 1 to `window_days` - 1 days later (k mod (window_days - 1) + 1),
    so two reports of one story arrive days apart within the story window, interleaved with
    other pairs' texts; arrival follows publication. A text in two pairs keeps its first time."""
    when: dict[str, datetime] = {}
    spread = max(1, window_days - 1)
    for k, p in enumerate(pairs):
        first, second = (p.text2, p.text1) if reverse else (p.text1, p.text2)
        start = day + timedelta(days=k % 14, seconds=k)
        when.setdefault(text_key(first), start)
        when.setdefault(text_key(second), start + timedelta(days=k % spread + 1))
    return sorted(when.items(), key=lambda kv: kv[1])


def schedule_of(pairs: list[StoryPair], reverse: bool, schedule: str, window_days: int):
    """The arrival schedule a replay follows."""
    if schedule == "same-day":
        return same_day(pairs, DAY, reverse)
    return days_apart(pairs, DAYS_APART_START, reverse, window_days)
