"""Replays bench/marks_eval.py's simulated analyst over the warehouses it ingested, in minutes
instead of most of an hour, to compare settings of the topics' learned part.

    .venv/bin/python bench/marks_eval.py --ingested DIR          # once: ingests, keeps A and B
    .venv/bin/python bench/marks_replay.py DIR [--ks 10,20,40] [--batch 5] [--orders 0,1,2]
                                           [--split date|hash]  # as given to marks_eval
                                           [--set c=3] [--set unlabelled_weight=0.02] ...
                                           [--novelty 0.5]

What it replays, with the pipeline's own pieces and nothing stored: for each k and topic, what
the trainer view offers (pipeline.tag.learned.to_ask over the newest `[topics] learn_sample`
unmarked originals of warehouse A, the stream), the answers from the labels, a training
(learned.train, the settings' learner parameters with `--set` on top) after each round; then
each test story's tag in warehouse B as retag gives it (a copy stored without vectors takes its
original's). No cross-validated agreement is computed: it changes no model.

Two parts are scored:
- held out of the stream: A's oldest originals, past the sample and every article a topic could
  ask about at the largest k. Choose settings by these figures;
- the test part, marks_eval's unseen stories: report it, do not choose by it.

`--orders`: 0 replays marks_eval's order (the newest first); n > 0 shuffles (seeded) which of
the newest articles make up the sample and in what order they are offered, to show how much a
figure owes to which articles were asked. Figures follow marks_eval's within about 0.01 (its
marks are made and its models trained through the warehouse).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # marks_eval's stories, topics and settings

from marks_eval import (  # noqa: E402
    TOPICS,
    load_stories,
    same_sample,
    sample_of,
    settings_for,
    slug_of,
    split,
    url_of,
)

from pipeline.app.learning import params_of  # noqa: E402
from pipeline.ingest import Services  # noqa: E402
from pipeline.store import learning as learning_store  # noqa: E402
from pipeline.store import topics as topics_store  # noqa: E402
from pipeline.tag import learned  # noqa: E402
from pipeline.tag.learned import Example, LearnedModel, LearnerParams  # noqa: E402


@dataclass(frozen=True)
class Corpus:
    """What the replay reads of warehouses A and B, once."""

    examples: dict[str, dict[int, Example]]  # topic -> article -> what its learned part reads
    anchors: dict[str, list[Example]]  # topic -> its description (and exemplars)
    newest: list[int]  # A's originals, newest first (the order the sample is taken in)
    labels: dict[int, set[str]]  # A's articles -> their Reuters categories
    test: list[tuple[int | None, set[str]]]  # per test story: the article whose tags it has


def read(folder: Path, stream: list[dict], test: list[dict]) -> tuple[Corpus, Services]:
    """The examples of every stored article for every topic, A's order and both parts' labels."""
    a = Services(settings_for(folder, "a"))
    with a.warehouse.connect(read_only=True) as db:
        newest = learning_store.sample_ids(db, 10**9)
    b = Services(settings_for(folder, "b"))
    with b.warehouse.connect(read_only=True) as db:
        b.refresh_tagger(db)
        rows = list(topics_store.stored_embeddings(db))
        lenders = topics_store.borrowers(db)
        ids = {str(u): int(i) for i, u in db.rows("SELECT id, url FROM articles")}
    tagger = b.tagger
    words = learned.hashed_words([f"{title}\n{text}" for _, title, text, _, _ in rows])
    examples: dict[str, dict[int, Example]] = {}
    anchors: dict[str, list[Example]] = {}
    for topic in tagger.topics:
        examples[topic.slug] = {
            aid: tagger.example(
                tagger.score(topic, text, emb, title, lang), title, text, emb, aid, words[k]
            )
            for k, (aid, title, text, emb, lang) in enumerate(rows)
        }
        texts = [topic.description, *topic.exemplars]
        anchors[topic.slug] = [
            tagger.example(tagger.score(topic, t, e, "", "en"), "", t, e)
            for t, e in zip(texts, b.embedder.embed(texts), strict=True)
        ]
    labels = {ids[url_of(s)]: set(s["topics"]) for s in stream if url_of(s) in ids}
    tests = []
    for s in test:
        aid = ids.get(url_of(s))
        tests.append((None if aid is None else lenders.get(aid, aid), set(s["topics"])))
    return Corpus(examples, anchors, newest, labels, tests), b


def replay(
    corpus: Corpus,
    params: LearnerParams,
    ks: list[int],
    batch: int,
    order: list[int],
    n: int,
    novelty: float,
) -> dict[int, dict[str, LearnedModel | None]]:
    """Each topic's model once it has k marks, for each k (marks accumulate from one k to the
    next, as in marks_eval)."""
    marks: dict[str, dict[int, bool]] = {slug_of(c): {} for c in TOPICS}
    models: dict[str, LearnedModel | None] = dict.fromkeys(marks)
    out = {}

    def sample(skip: set[int]) -> list[int]:
        return [a for a in order if a not in skip][:n]

    for k in ks:
        for category in TOPICS:
            slug = slug_of(category)
            ex, answers = corpus.examples[slug], marks[slug]
            while len(answers) < k:
                ids = sample(set(answers))
                asked = learned.to_ask(
                    models[slug], [ex[a] for a in ids], batch, set(answers), novelty=novelty
                )
                if not asked:
                    break
                for i, _ in asked[: k - len(answers)]:
                    answers[ids[i]] = category in corpus.labels[ids[i]]
                everyone = set().union(*(set(m) for m in marks.values()))
                models[slug] = learned.train(
                    slug,
                    [(ex[a], v) for a, v in answers.items()],
                    corpus.anchors[slug],
                    [ex[a] for a in sample(everyone)],
                    params,
                )
        out[k] = dict(models)
    return out


def macro_f1(
    corpus: Corpus,
    models: dict[str, LearnedModel | None],
    stories: list[tuple[int | None, set[str]]],
) -> tuple[float, dict[str, float]]:
    """Macro and per topic F1 of the models' tags over stories (article, categories)."""
    per = {}
    for category in TOPICS:
        slug = slug_of(category)
        model = models[slug]
        arts = sorted({a for a, _ in stories if a is not None})
        given: dict[int, bool] = dict.fromkeys(arts, False)
        if model is not None:
            p = learned.probability(model, [corpus.examples[slug][a] for a in arts])
            given = {a: bool(pi >= model.threshold) for a, pi in zip(arts, p, strict=True)}
        hit = np.array([a is not None and given[a] for a, _ in stories])
        gold = np.array([category in cats for _, cats in stories])
        tp = int((hit & gold).sum())
        per[category] = 2 * tp / (hit.sum() + gold.sum()) if hit.sum() + gold.sum() else 0.0
    return float(np.mean(list(per.values()))), per


def with_settings(params: LearnerParams, pairs: list[str]) -> LearnerParams:
    """The learner parameters with NAME=VALUE pairs on top."""
    kinds = {f.name: type(getattr(params, f.name)) for f in fields(params)}
    changes: dict[str, object] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in kinds:
            raise SystemExit(f"--set {pair}: not one of {', '.join(kinds)}")
        kind = kinds[name]
        changes[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return replace(params, **changes)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="marks_eval's --ingested folder")
    ap.add_argument("--stream", type=int, default=3000, help="as given to marks_eval")
    ap.add_argument("--test", type=int, default=2000, help="as given to marks_eval")
    ap.add_argument("--split", choices=("date", "hash"), default="date", help="as marks_eval's")
    ap.add_argument("--ks", default="10,20,40", help="marks per topic")
    ap.add_argument("--batch", type=int, default=5, help="articles marked per trainer round")
    ap.add_argument("--orders", default="0", help="0: marks_eval's; n > 0: shuffled (seed n)")
    ap.add_argument("--set", action="append", default=[], help="a learner parameter NAME=VALUE")
    ap.add_argument(
        "--novelty", type=float, help="[topics] learn_novelty for what the trainer asks about"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    same_sample(args.folder, sample_of(args))
    _, stream, _, test = split(load_stories(), args.stream, args.test, args.split)
    corpus, services = read(args.folder, stream, test)
    params = with_settings(params_of(services.settings), args.set)
    n = services.settings.topics.learn_sample
    novelty = services.settings.topics.learn_novelty if args.novelty is None else args.novelty
    ks = [int(x) for x in args.ks.split(",")]
    # Every article a topic can ask about at the largest k lies within this window.
    window = n + len(TOPICS) * max(ks)
    held = [(a, corpus.labels[a]) for a in corpus.newest[window:] if a in corpus.labels]
    held_stories: list[tuple[int | None, set[str]]] = list(held)
    print(
        f"{params}, novelty {novelty}\nread in {time.perf_counter() - t0:.0f} s; "
        f"{len(held)} stories held out"
    )
    figures: dict[int, list[tuple[float, float]]] = {k: [] for k in ks}
    for seed in [int(x) for x in args.orders.split(",")]:
        head = corpus.newest[:window]
        if seed:
            head = [head[i] for i in np.random.default_rng(seed).permutation(len(head))]
        started = time.perf_counter()
        models = replay(corpus, params, ks, args.batch, head, n, novelty)
        for k in ks:
            dev, _ = macro_f1(corpus, models[k], held_stories)
            tested, per = macro_f1(corpus, models[k], corpus.test)
            figures[k].append((dev, tested))
            topics = " ".join(f"{c} {f:.3f}" for c, f in per.items())
            print(f"order {seed} k={k}: held out {dev:.3f}, test {tested:.3f} ({topics})")
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    print("\nmean over orders, macro F1 held out of the stream / test:")
    for k in ks:
        dev, tested = np.mean(figures[k], axis=0)
        print(f"  k={k}: {dev:.3f} / {tested:.3f}")


if __name__ == "__main__":
    main()
