"""Chunks per model call at int8: the shipped one per call against calls of `[embed] batch_size`.

int8 quantizes a call's activations with one scale for the whole call, so in a shared call a
chunk's vector moves with the chunks beside it. This prints, for the 181 pages of
../shared/corpus/news-pages (their windows) and their first sentences (short texts, as titles
and search queries are):

- the time of each path, rounds alternated in one run, and their ratio;
- the cosine between the two paths' vectors of each window (mean, minimum): how far batching
  moves a vector;
- whether a text's vectors are the same, bit for bit, when the texts arrive in reverse order.

    .venv/bin/python bench/embed_calls.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config.settings import load_settings  # noqa: E402
from pipeline.testkit.corpus import first_sentence, load_pages  # noqa: E402
from pipeline.testkit.embedcache import bench_embedder  # noqa: E402

PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"


def timed(embedder, texts: list[str], per_call: int) -> tuple[float, np.ndarray]:
    """Seconds to embed the texts with `per_call` windows a model call, and their windows'
    vectors in order."""
    embedder._load().batch_size = per_call  # the ONNX encoder's own: what is measured
    started = time.perf_counter()
    embeddings = embedder.embed(texts)
    seconds = time.perf_counter() - started
    return seconds, np.stack([c.vector for e in embeddings for c in e.chunks])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each path, alternated")
    args = ap.parse_args()
    batch = load_settings(env={}).embed.batch_size
    embedder = bench_embedder("onnx-int8")
    pages = [p for p in load_pages(PAGES) if p.body]
    sets = {
        "the 181 pages": [p.body for p in pages],
        "first sentences": [first_sentence(p.body) for p in pages],
    }
    embedder.embed(["warm up"])
    for name, texts in sets.items():
        seconds: dict[int, list[float]] = {1: [], batch: []}
        vectors: dict[int, np.ndarray] = {}
        for _ in range(max(1, args.rounds)):
            for per_call in (batch, 1):
                dt, vectors[per_call] = timed(embedder, texts, per_call)
                seconds[per_call].append(dt)
        one, many = min(seconds[1]), min(seconds[batch])
        cos = np.sum(vectors[1] * vectors[batch], axis=1)
        backwards = embedder.embed(texts[::-1])  # still one per call: the last path timed
        again = np.stack([c.vector for e in reversed(backwards) for c in e.chunks])
        same = bool(np.array_equal(again, vectors[1]))
        print(f"{name}: {len(texts)} texts, {len(vectors[1])} windows")
        print(f"  calls of {batch}: {many:.2f} s ({1000 * many / len(texts):.2f} ms a text)")
        print(f"  one per call: {one:.2f} s ({1000 * one / len(texts):.2f} ms a text)")
        print(f"  one per call is {many / one:.2f}x the speed of calls of {batch}")
        print(
            f"  cosine between the two paths' vectors: mean {cos.mean():.4f}, min {cos.min():.4f}"
        )
        print(f"  one per call, texts in reverse order: the same vectors bit for bit: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
