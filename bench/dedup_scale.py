"""Dedup at scale: 100,000 and 1,000,000 stored chunk vectors, exact search against the HNSW
vector index, in the same run.

For each size, one child process per mode (so each one's peak memory is its own) loads the stored
chunk vectors into the vector index the dedup uses (pipeline/dedup/vectorindex.py; exact, or
HNSW), then searches the chunks of a batch of 100 new articles (5 chunks each) for every stored
chunk above the dedup's floor (the lowest threshold in use: 0.5, story support) and keeps the best
cosine per (new, stored) article, as DedupIndex._vector_matches does. It prints, per mode: build
time, batch search time (best and median of 3), peak RSS (VmHWM of the child, build included); for
the index also save and load time and file size; and the index's recall against exact search at the
candidate (0.90) and story (0.72) thresholds: of the (new article, stored article) pairs whose
best chunk cosine is at or above the threshold by exact search, the share the index finds at or
above it too. With --full, the children build the whole dedup index instead (MinHash sketches,
story book; slow) and time DedupIndex.decide on the batch.

The stored vectors are synthetic but shaped like real ones, so that recall is not trivially 1.0:
story centres are mixtures of real chunk vectors (the shared news pages and the English
story-pairs texts, embedded with the packaged model and cached in bench/out/embeddings) plus
noise (chunks of two stories sharing their main real vector meet at about 0.3); each stored
article (5 chunks) belongs to a story (about 4 articles per story), its chunks at cosine 0.80-0.93
to the centre, so same-story chunks meet at 0.64-0.86, around the story threshold; 5% of stored
articles are near-copies of an earlier one (cosine 0.92-0.99 per chunk).
The batch: 35 near-copies of stored articles, 45 new reports of stored stories, 20 new stories.

    .venv/bin/python bench/dedup_scale.py [--sizes 100000 1000000] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.models import DedupDecision, DedupDoc  # noqa: E402
from pipeline.testkit import SHARED  # noqa: E402

NOW = datetime(2026, 11, 23, tzinfo=UTC)
DIM, CHUNKS, BATCH = 384, 5, 100
WORDS = [
    "sanctions",
    "satellite",
    "imagery",
    "espionage",
    "export",
    "control",
    "treasury",
    "ministry",
    "space",
    "launch",
    "orbit",
    "radar",
    "wagner",
    "ukraine",
    "beijing",
    "moscow",
    "agency",
    "report",
    "official",
    "company",
    "firm",
]


def unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=-1, keepdims=True)).astype(np.float32)


def toward(rng: np.random.Generator, centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """One unit vector per centre at a cosine drawn from [lo, hi] to it (noise: an isotropic
    direction, nearly orthogonal to the centre in 384 dimensions)."""
    cos = rng.uniform(lo, hi, (len(centres), 1)).astype(np.float32)
    noise = unit(rng.standard_normal(centres.shape, dtype=np.float32))
    return unit(cos * centres + np.sqrt(1 - cos**2) * noise)


def real_anchors() -> np.ndarray:
    """Real chunk vectors: the shared news pages and English story-pairs texts."""
    import csv

    from pipeline.embed.english import Embedder
    from pipeline.testkit.corpus import load_pages
    from pipeline.testkit.embedcache import embed_cached

    if not (SHARED / "corpus").exists():
        sys.exit(f"{SHARED / 'corpus'} is missing: the bench needs the shared corpus")
    texts = [p.body for p in load_pages(SHARED / "corpus" / "news-pages") if p.body.strip()]
    with open(SHARED / "corpus" / "story-pairs" / "pairs.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["lang1"] == "en" and row["lang2"] == "en":
                texts += [row["text1"], row["text2"]]
    found = embed_cached(Embedder(), texts)
    return unit(np.vstack([found[t][1] for t in texts]))


def story_centres(rng: np.random.Generator, anchors: np.ndarray, n: int) -> np.ndarray:
    a, b = rng.integers(0, len(anchors), (2, n))
    # Two centres sharing their main real vector meet at about 0.36, so chunks of two stories on
    # one subject at about 0.3, of one story at 0.64-0.86, of a copy above 0.9.
    return unit(
        0.6 * anchors[a]
        + 0.3 * anchors[b]
        + 0.75 * unit(rng.standard_normal((n, DIM), dtype=np.float32))
    )


def generate(size: int, folder: Path, seed: int = 7) -> Path:
    """Write the stored chunk vectors (float32, article after article) and the batch."""
    rng = np.random.default_rng(seed)
    anchors = real_anchors()
    articles = size // CHUNKS
    stories = max(1, articles // 4)
    centres = story_centres(rng, anchors, stories)
    story_of = rng.integers(0, stories, articles)
    path = folder / f"stored-{size}.f32"
    block = 20000
    with open(path, "wb") as fh:
        for lo in range(0, articles, block):
            hi = min(lo + block, articles)
            m = toward(rng, np.repeat(centres[story_of[lo:hi]], CHUNKS, axis=0), 0.80, 0.93)
            m = m.reshape(hi - lo, CHUNKS, DIM)
            # 5% are near-copies of an earlier article of the same block.
            copies = np.flatnonzero(rng.random(hi - lo) < 0.05)
            copies = copies[copies > 0]
            sources = (rng.random(copies.size) * copies).astype(int)
            m[copies] = toward(rng, m[sources].reshape(-1, DIM), 0.92, 0.99).reshape(
                copies.size, CHUNKS, DIM
            )
            m.tofile(fh)
    # The batch: near-copies of stored articles, new reports of stored stories, new stories.
    sources = rng.integers(0, articles, 35)
    stored = np.memmap(path, dtype=np.float32, mode="r", shape=(articles, CHUNKS, DIM))
    copies = [toward(rng, np.array(stored[k]), 0.90, 0.99) for k in sources]
    del stored
    same = [
        toward(rng, np.repeat(centres[[s]], CHUNKS, axis=0), 0.80, 0.93)
        for s in story_of[rng.integers(0, articles, 45)]
    ]
    fresh = [
        toward(rng, np.repeat(c[None], CHUNKS, axis=0), 0.80, 0.93)
        for c in story_centres(rng, anchors, BATCH - 80)
    ]
    np.save(folder / f"batch-{size}.npy", np.stack(copies + same + fresh))
    return path


def synthetic_text(rng: np.random.Generator, i: int, n_words: int) -> str:
    return f"article {i} " + " ".join(rng.choice(WORDS, size=n_words))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_now_mb() -> float:
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: getrusage's ru_maxrss would carry the parent's peak over
    the exec of a child process)."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_vectors(mode: str, size: int, folder: Path, settings) -> dict:
    """Only the vector index: load the stored vectors, search the batch at the dedup's floor."""
    from pipeline.dedup.index import DedupIndex
    from pipeline.dedup.vectorindex import VectorIndex, index_paths

    floor = DedupIndex(settings)._floor()
    base = rss_now_mb()  # the interpreter with newswatch's imports, before any vector
    exact_below = 10**12 if mode == "exact" else settings.vector_index_min_rows
    index = VectorIndex(DIM, exact_below=exact_below)
    articles = size // CHUNKS
    per_read = 10000
    started = time.perf_counter()
    with open(folder / f"stored-{size}.f32", "rb") as fh:
        for lo in range(0, articles, per_read):
            n = min(per_read, articles - lo)
            block = np.fromfile(fh, dtype=np.float32, count=n * CHUNKS * DIM)
            index.add_many(
                np.arange(lo + 1, lo + n + 1), np.full(n, CHUNKS), block.reshape(n * CHUNKS, DIM)
            )
    out: dict = {
        "mode": mode,
        "size": size,
        "build_s": time.perf_counter() - started,
        "approximate": index.approximate,
        "floor": floor,
        "base_mb": base,
    }
    batch = np.load(folder / f"batch-{size}.npy")
    queries = batch.reshape(-1, DIM)
    doc_of_row = np.repeat(np.arange(len(batch)), CHUNKS)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rows, owners, sims = index.search(queries, floor)
        hits: list[dict[int, float]] = [{} for _ in batch]
        for k, owner, value in zip(
            doc_of_row[rows].tolist(), owners.tolist(), sims.tolist(), strict=True
        ):
            if value > hits[k].get(owner, -1.0):
                hits[k][owner] = value
        times.append(time.perf_counter() - t0)
    out.update(
        batch_best_s=min(times),
        batch_median_s=sorted(times)[1],
        search_best_s=min(times),
        peak_mb=peak_mb(),
        hits=[{str(o): v for o, v in h.items()} for h in hits],
    )
    if index.approximate:
        files = index_paths(folder / f"w{size}.duckdb")
        t0 = time.perf_counter()
        index.save(*files, model="bench")
        out["save_s"] = time.perf_counter() - t0
        out["file_mb"] = files[0].stat().st_size / 1e6
        del index
        t0 = time.perf_counter()
        loaded = VectorIndex.load(*files, model="bench", dim=DIM, exact_below=exact_below)
        out["load_s"] = time.perf_counter() - t0
        assert loaded is not None and loaded.size == size
        files[0].unlink()
    return out


def child(mode: str, size: int, folder: Path, full: bool) -> dict:
    """Build the dedup index in this process and time a batch (one mode, one size)."""
    from pipeline.config.settings import load_settings
    from pipeline.dedup.index import DedupIndex
    from pipeline.dedup.vectorindex import VectorIndex, index_paths

    settings = load_settings(env={}).dedup
    if not full:
        return child_vectors(mode, size, folder, settings)
    if mode == "exact":
        import dataclasses

        settings = dataclasses.replace(settings, vector_index_min_rows=10**12)
    rng = np.random.default_rng(1)
    articles = size // CHUNKS
    path = folder / f"stored-{size}.f32"
    index = DedupIndex(settings)
    started = time.perf_counter()
    per_read = 10000

    def rows():
        with open(path, "rb") as fh:
            for lo in range(0, articles, per_read):
                n = min(per_read, articles - lo)
                block = np.fromfile(fh, dtype=np.float32, count=n * CHUNKS * DIM)
                block = block.reshape(n, CHUNKS, DIM)
                for k in range(n):
                    i = lo + k
                    yield (
                        DedupDoc(
                            id=i + 1,
                            text=synthetic_text(rng, i, 12),
                            content_hash=f"h{i}",
                            lang="en",
                            published_at=NOW,
                            vector=block[k, 0],
                            chunk_vectors=block[k],
                            is_seed=False,
                        ),
                        DedupDecision(None, None, None, i + 1),
                    )

    index.add_all(rows())
    build = time.perf_counter() - started
    out: dict = {
        "mode": mode,
        "size": size,
        "build_s": build,
        "approximate": bool(index.vectors.approximate),
    }
    batch = np.load(folder / f"batch-{size}.npy")
    new = [
        DedupDoc(
            id=articles + k + 1,
            text=synthetic_text(rng, articles + k, 600),
            content_hash=f"n{k}",
            lang="en",
            published_at=NOW,
            vector=v[0],
            chunk_vectors=v,
            is_seed=False,
        )
        for k, v in enumerate(batch)
    ]
    times, search = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        hits = index._vector_matches(new)
        search.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        index.decide(new)
        times.append(time.perf_counter() - t0)
        index.remove([d.id for d in new])
    out.update(
        batch_best_s=min(times),
        batch_median_s=sorted(times)[1],
        search_best_s=min(search),
        hits=[{str(o): v for o, v in h.items()} for h in hits],
    )
    out["peak_mb"] = peak_mb()
    if index.vectors.approximate:
        files = index_paths(folder / f"w{size}.duckdb")
        t0 = time.perf_counter()
        index.vectors.save(*files, model="bench")
        out["save_s"] = time.perf_counter() - t0
        out["file_mb"] = files[0].stat().st_size / 1e6
        del index
        t0 = time.perf_counter()
        loaded = VectorIndex.load(
            *files, model="bench", dim=DIM, exact_below=settings.vector_index_min_rows
        )
        out["load_s"] = time.perf_counter() - t0
        assert loaded is not None and loaded.size == size
        files[0].unlink()
    return out


def recall(truth: list[dict], got: list[dict], threshold: float) -> tuple[float, int]:
    want = {(k, o) for k, h in enumerate(truth) for o, v in h.items() if v >= threshold}
    have = {(k, o) for k, h in enumerate(got) for o, v in h.items() if v >= threshold}
    return (len(want & have) / len(want) if want else 1.0), len(want)


def run(size: int, folder: Path, full: bool) -> None:
    t0 = time.perf_counter()
    generate(size, folder)
    print(
        f"\n{size:>9,} stored chunk vectors ({size // CHUNKS:,} articles; generated in "
        f"{time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    results = {}
    for mode in ("exact", "index"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--sizes",
                str(size),
                "--folder",
                str(folder),
            ]
            + (["--full"] if full else []),
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            sys.exit(proc.stderr)
        results[mode] = r = json.loads(proc.stdout.strip().splitlines()[-1])
        extra = ""
        if "save_s" in r:
            extra = (
                f"; saved in {r['save_s']:.1f} s ({r['file_mb']:.0f} MB), "
                f"loaded in {r['load_s']:.1f} s"
            )
        what = "decide" if full else f"vector search at floor {r.get('floor', 0):.2f}"
        print(
            f"  {mode:5} ({'HNSW' if r['approximate'] else 'exact'}): built in "
            f"{r['build_s']:.1f} s; batch of {BATCH} x {CHUNKS} chunks, {what}: best "
            f"{r['batch_best_s']:.3f} s, median {r['batch_median_s']:.3f} s (vector search "
            f"{r['search_best_s']:.3f} s); peak RSS {r['peak_mb']:.0f} MB"
            + (f" ({r['base_mb']:.0f} MB before any vector)" if "base_mb" in r else "")
            + extra,
            flush=True,
        )
    for threshold in (0.90, 0.72):
        share, pairs = recall(results["exact"]["hits"], results["index"]["hits"], threshold)
        print(f"  recall at {threshold:.2f}: {share:.4f} of {pairs:,} (new, stored) pairs")
    exact, index = results["exact"], results["index"]
    print(
        f"  speed-up of the batch: {exact['batch_best_s'] / index['batch_best_s']:.1f}x, "
        f"of the vector search: {exact['search_best_s'] / index['search_best_s']:.1f}x"
    )
    for f in folder.glob(f"*-{size}.*"):
        f.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--child", choices=("exact", "index"))
    ap.add_argument("--folder", type=Path)
    ap.add_argument(
        "--full", action="store_true", help="build the whole dedup index and time decide (slow)"
    )
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.sizes[0], args.folder, args.full)))
        return
    with tempfile.TemporaryDirectory(prefix="dedup-scale-", dir=os.environ.get("TMPDIR")) as d:
        for size in args.sizes:
            run(size, Path(d), args.full)


if __name__ == "__main__":
    main()
