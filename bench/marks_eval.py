"""Topics that learn from marks, measured through newswatch's own path on Reuters-21578
(../shared/corpus/topic-marks: 8,762 labelled newswire stories of 1987).

    .venv/bin/python bench/marks_eval.py [--stream 3000] [--test 2000] [--ks 10,20,40]
                                         [--batch 5] [--keep DIR] [--ingested DIR]
                                         [--split date|hash]

1. The last 40 % of the stories filed are the test side (from 23 March 1987 on), the first 60 %
   the stream side: a monitor tags news that arrives after its marks, and the collection's own
   test side, where the SVM of the shared README scores 0.81, was filed after its training side.
   With `--split hash` the split is by a hash of the story's id instead (unseen stories filed on
   the same days as the marked ones; the learner's settings were first chosen on that split's
   stream side: README.md, Benchmarks). A random subsample of each (--stream, --test) keeps
   one run within the hour on a loaded machine.
2. Nine topics are defined as an analyst would: a slug, a label and one sentence (TOPICS).
3. The stream is served as RSS feeds on loopback (feed text only, as `[ingest] fetch_pages =
   false` stores it) and ingested by one real ingest job into warehouse A.
4. A copy of A is warehouse B; the test part arrives there as new articles, by a second ingest
   job. Its tags then are the zero-shot figures (k = 0: the one-sentence rule).
5. For each k: a simulated analyst opens each topic's trainer view on A
   (pipeline/app/learning.trainer_view), marks the `--batch` articles it offers, answering from
   the labels (pipeline/app/marking.mark_topic), and the topic learns (learning.train_changed),
   until the topic has k marks. A's model versions are copied into B's `topic_models` and
   `newswatch retag` (pipeline/ingest/upkeep.retag) applies them to B's stored test articles.
6. Per topic and macro precision, recall and F1 of B's stored tags at each k, and the reference:
   a linear SVM on tf-idf trained on every label of the whole stream side.

`--ingested DIR` keeps the ingested warehouses (A and B before any mark) in DIR, or starts from
them when DIR holds them already: runs that compare learners then ingest once (about 15 minutes
here) and start from the same stored articles.

Cross-lingual linking is off (the stories are English; it only costs time here).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.app import learning  # noqa: E402
from pipeline.app.jobs import ingest_job  # noqa: E402
from pipeline.app.marking import mark_topic  # noqa: E402
from pipeline.config.settings import load_settings, with_overrides  # noqa: E402
from pipeline.ingest import Services  # noqa: E402
from pipeline.ingest.upkeep import retag  # noqa: E402
from pipeline.store.db import Warehouse  # noqa: E402
from pipeline.testkit.embedcache import MODEL_CACHE  # noqa: E402
from pipeline.testkit.server import LoopbackServer, rss  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "topic-marks" / "reuters21578-train.jsonl.gz"

#: slug -> (label, one sentence): what an analyst would write, nothing tuned on the labels.
TOPICS = {
    "crude": (
        "Crude oil",
        "Crude oil: oil prices, OPEC output and quotas, oil production and exploration, "
        "refineries and petroleum supply.",
    ),
    "grain": (
        "Grain",
        "Grain: wheat, corn, rice, barley and other grain crops, their harvests, exports, "
        "tenders and farm programmes.",
    ),
    "trade": (
        "Trade",
        "International trade: trade balances and deficits, tariffs, import quotas, trade "
        "disputes and negotiations between countries.",
    ),
    "interest": (
        "Interest rates",
        "Interest rates: central banks and commercial banks raising or cutting interest rates, "
        "prime and discount rates.",
    ),
    "ship": (
        "Shipping",
        "Shipping: ships, ports, tankers, freight rates, shipping lines, strikes of seamen and "
        "dockers, cargo at sea.",
    ),
    "money-fx": (
        "Foreign exchange",
        "Foreign exchange: currency markets and exchange rates, the dollar, yen and mark, "
        "central bank intervention.",
    ),
    "sugar": (
        "Sugar",
        "Sugar: sugar production, prices, exports and imports, cane and beet crops and the "
        "world sugar trade.",
    ),
    "coffee": (
        "Coffee",
        "Coffee: coffee prices, export quotas of the International Coffee Organization, "
        "harvests and exports of producers.",
    ),
    "gold": (
        "Gold",
        "Gold: gold prices, gold mining and production, bullion trading and central banks' "
        "gold reserves.",
    ),
}
FEED_ITEMS = 200  # [feeds] max_entries_per_poll
SAMPLE_FILE = "sample.json"  # beside kept warehouses: the split and sizes they were ingested from


def slug_of(category: str) -> str:
    """A Reuters category as a topic slug (lower-case letters, digits and _)."""
    return category.replace("-", "_")


def load_stories() -> list[dict]:
    """The stories that have a body and a title."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if r["text"].strip()]


def side(story: dict) -> str:
    """'test' for 40 % of the stories (by a hash of the id), 'stream' for the rest."""
    h = int(hashlib.md5(str(story["id"]).encode()).hexdigest(), 16) % 100
    return "test" if h < 40 else "stream"


def dated(story: dict) -> datetime:
    """When Reuters filed the story (`26-FEB-1987 15:01:01.79`)."""
    return datetime.strptime(story["date"].strip().split(".")[0], "%d-%b-%Y %H:%M:%S")


def split(
    stories: list[dict], n_stream: int, n_test: int, by: str = "hash"
) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """The stream side, the sample of it ingested, the test side and the sample that arrives.
    `by` "hash": 40 % of the stories by a hash of their id are the test side; "date": the last
    40 % filed are, as the collection's own test side was filed after its training side and a
    monitor tags news that arrives after its marks."""
    if by == "date":
        ordered = sorted(stories, key=lambda s: (dated(s), s["id"]))
        cut = round(len(ordered) * 0.6)
        stream_all, test_all = ordered[:cut], ordered[cut:]
    else:
        stream_all = [s for s in stories if side(s) == "stream"]
        test_all = [s for s in stories if side(s) == "test"]
    rng = random.Random(0)
    stream = rng.sample(stream_all, min(n_stream, len(stream_all)))
    test = rng.sample(test_all, min(n_test, len(test_all)))
    return stream_all, stream, test_all, test


def url_of(story: dict) -> str:
    return f"http://127.0.0.1:9/reuters/{story['id']}"


def topics_toml() -> str:
    """The nine topics, each of one sentence."""
    out = []
    for category, (label, sentence) in TOPICS.items():
        out.append(
            f'[[topics]]\nslug = "{slug_of(category)}"\nlabel = "{label}"\n'
            f"description = {json.dumps(sentence)}\n"
        )
    return "\n".join(out)


def serve_feeds(server: LoopbackServer, stories: list[dict], name: str) -> list[str]:
    """Route the stories as RSS feeds of FEED_ITEMS items each; their URLs."""
    urls = []
    for k in range(0, len(stories), FEED_ITEMS):
        items = [
            {
                "title": " ".join(s["title"].split()) or f"story {s['id']}",
                "link": url_of(s),
                "guid": f"reuters-{s['id']}",
                "description": " ".join(s["text"].split()),
            }
            for s in stories[k : k + FEED_ITEMS]
        ]
        path = f"/{name}/{k // FEED_ITEMS}.xml"
        server.route(path, rss(items, title=name), content_type="application/rss+xml")
        urls.append(server.url(path))
    return urls


def write_feeds(path: Path, urls: list[str]) -> None:
    path.write_text("".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in urls), encoding="utf-8")


def settings_for(folder: Path, name: str):
    """Shipped settings, with the warehouse, feeds and topics of this run in `folder`."""
    base = load_settings(env={})
    return with_overrides(
        base,
        warehouse={"path": folder / f"{name}.duckdb"},
        feeds={"file": folder / f"feeds-{name}.toml", "max_entries_per_poll": FEED_ITEMS},
        topics={"file": folder / "topics.toml"},
        ingest={"fetch_pages": False},
        http={"allow_private_networks": True},
        embed={"multilingual": False, "cache_dir": str(MODEL_CACHE)},
    )


def ingest(settings, stories: list[dict], server: LoopbackServer, name: str) -> Services:
    """Serve the stories and ingest them with one real ingest job; the job's Services."""
    urls = serve_feeds(server, stories, name)
    write_feeds(Path(settings.feeds.file), urls)
    services = Services(settings)
    started = time.perf_counter()
    result = ingest_job(services, setup=True)
    with services.warehouse.connect(read_only=True) as db:
        stored = db.scalar("SELECT count(*) FROM articles WHERE source = 'feed'")
    print(
        f"ingested {name}: {stored} stories stored now, {len(stories)} served, in "
        f"{time.perf_counter() - started:.0f} s ({result.status})",
        flush=True,
    )
    return services


def sample_of(args: argparse.Namespace) -> dict[str, object]:
    """The split and sizes a run's warehouses are ingested from (its --split, --stream, --test)."""
    return {"split": args.split, "stream": args.stream, "test": args.test}


def same_sample(folder: Path, sample: dict[str, object]) -> None:
    """Stop unless the warehouses in `folder` were ingested from this split and sample (the
    figures would silently mix two samples)."""
    if not (folder / SAMPLE_FILE).exists():
        raise SystemExit(
            f"{folder} has no {SAMPLE_FILE}: if its warehouses were ingested as {sample}, "
            f"write {json.dumps(sample)} there"
        )
    made = json.loads((folder / SAMPLE_FILE).read_text(encoding="utf-8"))
    if made != sample:
        raise SystemExit(f"{folder} was ingested as {made}, not {sample}: give another folder")


def ingest_both(
    folder: Path,
    stream: list[dict],
    test: list[dict],
    kept: Path | None,
    sample: dict[str, object],
) -> tuple[Services, Services]:
    """Warehouses A (the stream ingested) and B (a copy of A, then the test part ingested) in
    `folder`; with `kept`, copied from there when it holds them (ingested from the same
    `sample`: split and sizes), else made there and copied."""
    where = kept or folder
    if kept is None or not (kept / "b.duckdb").exists():
        where.mkdir(parents=True, exist_ok=True)
        (where / "topics.toml").write_text(topics_toml(), encoding="utf-8")
        (where / SAMPLE_FILE).write_text(json.dumps(sample), encoding="utf-8")
        with LoopbackServer() as server:
            a = ingest(settings_for(where, "a"), stream, server, "stream")
            a.warehouse.checkpoint()
            for f in where.glob("a.duckdb*"):
                shutil.copy(f, where / f.name.replace("a.duckdb", "b.duckdb", 1))
            b = ingest(settings_for(where, "b"), test, server, "test")
            b.warehouse.checkpoint()
        if kept is None:
            return a, b
    same_sample(kept, sample)
    for f in [*kept.glob("a.duckdb*"), *kept.glob("b.duckdb*")]:
        shutil.copy(f, folder / f.name)
    a, b = Services(settings_for(folder, "a")), Services(settings_for(folder, "b"))
    with a.warehouse.connect(read_only=True) as db:
        if db.scalar("SELECT count(*) FROM marks"):
            raise SystemExit(f"{kept} holds warehouses with marks: not as ingested")
    print(f"ingested warehouses copied from {kept}", flush=True)
    return a, b


def stored_tags(warehouse: Warehouse, stories: list[dict]) -> dict[int, set[str]]:
    """Story id -> the topics B stored for it."""
    by_url = {url_of(s): s["id"] for s in stories}
    out: dict[int, set[str]] = {s["id"]: set() for s in stories}
    with warehouse.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT a.url, t.topic FROM articles a JOIN article_topics t ON t.article_id = a.id "
            "WHERE a.source = 'feed'"
        )
        stored = {u for (u,) in db.rows("SELECT url FROM articles WHERE source = 'feed'")}
    for url, topic in rows:
        if url in by_url:
            out[by_url[url]].add(topic)
    missing = [s for s in stories if url_of(s) not in stored]
    if missing:
        print(f"  ({len(missing)} test stories were not stored: counted as tagged with nothing)")
    return out


def scores(stories: list[dict], tags: dict[int, set[str]]) -> dict[str, tuple[float, ...]]:
    """Per topic (P, R, F1, TP, FP, FN)."""
    out = {}
    for category in TOPICS:
        slug = slug_of(category)
        tp = sum(1 for s in stories if category in s["topics"] and slug in tags[s["id"]])
        fp = sum(1 for s in stories if category not in s["topics"] and slug in tags[s["id"]])
        fn = sum(1 for s in stories if category in s["topics"] and slug not in tags[s["id"]])
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[category] = (p, r, f, tp, fp, fn)
    return out


def print_scores(title: str, figures: dict[str, tuple[float, ...]]) -> float:
    print(f"\n{title}")
    print(f"{'topic':10} {'P':>6} {'R':>6} {'F1':>6}   TP  FP  FN")
    for category, (p, r, f, tp, fp, fn) in figures.items():
        print(f"{category:10} {p:6.3f} {r:6.3f} {f:6.3f} {tp:4d} {fp:3d} {fn:3d}")
    macro = float(np.mean([v[2] for v in figures.values()]))
    print(
        f"{'macro':10} {np.mean([v[0] for v in figures.values()]):6.3f} "
        f"{np.mean([v[1] for v in figures.values()]):6.3f} {macro:6.3f}"
    )
    return macro


def svm_reference(stream: list[dict], test: list[dict]) -> dict[str, tuple[float, ...]]:
    """A linear SVM on tf-idf per topic, trained on every label of the stream side."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    x = vec.fit_transform([f"{s['title']}\n{s['text']}" for s in stream])
    xt = vec.transform([f"{s['title']}\n{s['text']}" for s in test])
    tags: dict[int, set[str]] = {s["id"]: set() for s in test}
    for category in TOPICS:
        y = np.array([category in s["topics"] for s in stream])
        pred = LinearSVC(C=1.0).fit(x, y).predict(xt)
        for s, hit in zip(test, pred, strict=True):
            if hit:
                tags[s["id"]].add(slug_of(category))
    return scores(test, tags)


def teach(services: Services, labels: dict[str, set[str]], k: int, batch: int) -> None:
    """Mark what each topic's trainer view offers until it has k marks, training after each
    round, as the reading room's trainer page does."""
    settings, warehouse = services.settings, services.warehouse
    for category in TOPICS:
        slug = slug_of(category)
        started, rounds = time.perf_counter(), 0
        while True:
            view = learning.trainer_view(settings, warehouse, services, slug, n=batch)
            todo = k - view.marks
            if todo <= 0 or not view.candidates:
                break
            asked = view.candidates[:todo]
            with warehouse.connect(read_only=True) as db:
                urls = dict(
                    db.rows(
                        "SELECT id, url FROM articles WHERE id IN (SELECT unnest(?))",
                        [[c.article_id for c in asked]],
                    )
                )
            for value in (True, False):
                ids = [
                    c.article_id for c in asked if (category in labels[urls[c.article_id]]) == value
                ]
                if ids:
                    mark_topic(settings, warehouse, ids, slug, value, by="bench", via="cli")
            learning.train_changed(services, topics=[slug])
            rounds += 1
        print(
            f"  {category:9} {view.marks} marks ({view.yes} yes, {view.no} no), version "
            f"{view.version}, CV agreement {view.agreement}, {rounds} rounds in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )


def copy_models(a: Warehouse, b: Warehouse) -> None:
    """A's model versions into B (B has no marks: its retag trains nothing, applies these)."""
    with a.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT topic, version, trained_at, marks, yes, no, last_mark, learner, parameters, "
            "figures FROM topic_models"
        )
    with b.transaction() as db:
        db.execute("DELETE FROM topic_models")
        db.executemany(
            "INSERT INTO topic_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [list(r) for r in rows],
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stream", type=int, default=3000, help="stream stories ingested")
    ap.add_argument("--test", type=int, default=2000, help="test stories that arrive after")
    ap.add_argument("--ks", default="10,20,40", help="marks per topic")
    ap.add_argument("--batch", type=int, default=5, help="articles marked per trainer round")
    ap.add_argument("--keep", type=Path, help="keep the warehouses in this folder")
    ap.add_argument(
        "--ingested", type=Path, help="keep the ingested warehouses here, or start from them"
    )
    ap.add_argument(
        "--split",
        choices=("date", "hash"),
        default="date",
        help="test side: the last 40 %% filed, or 40 %% by a hash of the id",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    stories = load_stories()
    stream_all, stream, test_all, test = split(stories, args.stream, args.test, args.split)
    labels = {url_of(s): set(s["topics"]) for s in stream}
    print(
        f"Reuters-21578 training side: {len(stories)} stories; stream side {len(stream_all)} "
        f"(ingested: a sample of {len(stream)}), test side {len(test_all)} (arriving: a sample "
        f"of {len(test)})"
    )
    for category in TOPICS:
        print(
            f"  {category:9} stream {sum(category in s['topics'] for s in stream):4d}  "
            f"test {sum(category in s['topics'] for s in test):4d}"
        )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="marks-eval-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topics.toml").write_text(topics_toml(), encoding="utf-8")
    results: dict[str, dict[str, tuple[float, ...]]] = {}
    a, b = ingest_both(folder, stream, test, args.ingested, sample_of(args))
    results["zero-shot (k=0): the one-sentence rule"] = scores(test, stored_tags(b.warehouse, test))
    for k in [int(x) for x in args.ks.split(",")]:
        print(f"\nteaching k={k} marks per topic", flush=True)
        teach(a, labels, k, args.batch)
        copy_models(a.warehouse, b.warehouse)
        started = time.perf_counter()
        retag(b)
        print(f"  retag of warehouse B: {time.perf_counter() - started:.0f} s", flush=True)
        results[f"k={k} marks per topic"] = scores(test, stored_tags(b.warehouse, test))
    results["reference: linear SVM on tf-idf, every label of the stream side"] = svm_reference(
        stream_all, test
    )
    macros = {name: print_scores(name, figures) for name, figures in results.items()}
    print("\nmacro F1: " + "; ".join(f"{n.split(':')[0]} {m:.3f}" for n, m in macros.items()))
    print(f"\n{time.perf_counter() - t0:.0f} s in all; warehouses in {folder}")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
