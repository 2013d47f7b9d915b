"""Dedup at scale: an index holding 100,000 and 1,000,000 synthetic chunk vectors (with their
MinHash sketches), then the time and memory to decide a batch of 100 new articles with
five chunks each (the length of a typical news article).

    .venv/bin/python bench/dedup_scale.py [--sizes 100000 1000000] [--chunks 5]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from pipeline.dedup import DedupIndex
from pipeline.models import DedupDecision, DedupDoc
from pipeline.settings import load_settings

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
WORDS = ("sanctions satellite imagery espionage export control treasury ministry space launch "
         "orbit radar wagner ukraine beijing moscow agency report official company firm").split()


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_text(rng: np.random.Generator, i: int, n_words: int) -> str:
    return f"article {i} " + " ".join(rng.choice(WORDS, size=n_words))


def run(size: int, chunks: int, rng: np.random.Generator) -> None:
    settings = load_settings(env={}).dedup
    before = rss_mb()
    index = DedupIndex(settings)
    started = time.perf_counter()
    per_doc = 5  # stored articles of 5 chunks each: `size` vectors in all
    block = unit(rng, size)
    for i in range(size // per_doc):
        doc = DedupDoc(id=i + 1, text=synthetic_text(rng, i, 12), content_hash=f"h{i}",
                       lang="en", published_at=NOW, vector=block[i * per_doc],
                       chunk_vectors=block[i * per_doc:(i + 1) * per_doc], is_seed=False)
        index.add(doc, DedupDecision(None, None, None, i + 1))
    build = time.perf_counter() - started
    del block
    held = rss_mb() - before
    new = [DedupDoc(id=size + k + 1, text=synthetic_text(rng, size + k, 600),
                    content_hash=f"n{k}", lang="en", published_at=NOW,
                    vector=v[0], chunk_vectors=v, is_seed=False)
           for k, v in enumerate(unit(rng, 100 * chunks).reshape(100, chunks, 384))]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        index.decide(new)
        times.append(time.perf_counter() - t0)
        index.remove([d.id for d in new])
    print(f"{size:>9,} vectors ({size // per_doc:,} articles): built in {build:.0f} s, index "
          f"memory {held:.0f} MB; batch of 100 new articles x {chunks} chunks: "
          f"best {min(times):.2f} s, median {sorted(times)[1]:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--chunks", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    for size in args.sizes:
        run(size, args.chunks, rng)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
