"""Ingest benchmark: the 181 pages of ../shared/corpus/news-pages on loopback behind a feed whose
items carry only the first sentence; one real ingest cycle into a fresh warehouse, once per
embedding backend, in this one run.

For each backend (torch, onnx-fp32 and onnx-int8, the default, unless --backends says otherwise)
a child process loads the model and the seeds (not timed), runs the cycle and prints: articles
stored, precision/recall/F1 of the stored text against `articleBody` (the benchmark's own
metric), end-to-end articles/s, seconds per stage, peak RSS (the process and its largest
extraction worker), the load average before and after its cycle (the machine may be shared), and
the overhead against extracting and embedding the same pages directly. Then the comparison: each
backend's articles/s and embed-stage seconds against torch's, the cosine of its stored article
vectors to torch's, whether it decided the same duplicates, stories and topics for every page,
and whether the default reaches its goal of GOAL x torch's articles/s end to end.

    .venv/bin/python bench/ingest.py [--backends torch,onnx-fp32,onnx-int8] [--rounds 2]
                                     [--extract-workers N] [--threads N] [--overlap N]
                                     [--pages N] [--no-direct]

A ":en" suffix on a backend (`--backends default:en,default`) runs it with the multilingual lead
model off: the cost of cross-lingual linking, and the stories it changes. "@N" before it runs that
backend with a chunk overlap of N word pieces (`onnx-int8@32:en`); --overlap sets the others'.
With --show-diffs every decision that differs from the reference backend's is listed.

With --rounds 2 the backends run torch, fp32, int8, torch, fp32, int8 (alternating, since the
machine is shared) and each figure is the better of its rounds. The ONNX graphs are exported
before the timed runs, into the per-user model cache (once per machine).
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.testkit.corpus import load_pages, serve
from pipeline.testkit.embedcache import MODEL_CACHE
from pipeline.testkit.scoring import corpus_score
from pipeline.testkit.server import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"
CACHE = MODEL_CACHE
#: The default backend's goal: articles/s end to end against torch's, in the same run.
GOAL = 1.8


def backend_settings(spec: str) -> tuple[str, str]:
    """ "torch" | "onnx-fp32" | "onnx-int8" | "default" as ([embed] backend, precision); a
    ":en" suffix (say "default:en") turns the multilingual lead model off for that run."""
    spec = spec.removesuffix(":en").partition("@")[0]
    if spec == "default":
        from pipeline.config.settings import load_settings

        embed = load_settings(env={}).embed
        return embed.backend, embed.precision
    backend, _, precision = spec.partition("-")
    return backend, precision or "fp32"


def overlap_of(spec: str, args: argparse.Namespace) -> int:
    """The chunk overlap a spec runs with: its "@N", else --overlap."""
    _, at, n = spec.removesuffix(":en").partition("@")
    return int(n) if at else args.overlap


def settings_file(
    tmp: Path,
    backend: str,
    precision: str,
    args: argparse.Namespace,
    english_only: bool = False,
    overlap: int | None = None,
) -> Path:
    path = tmp / "settings.toml"
    (tmp / "feeds.toml").write_text("")
    path.write_text(
        f'[warehouse]\npath = "{tmp / "bench.duckdb"}"\n[feeds]\nfile = "{tmp / "feeds.toml"}"\n'
        f'[seeds]\ndir = "{ROOT / "config" / "seeds"}"\n'
        f'[topics]\nfile = "{ROOT / "config" / "topics.toml"}"\n'
        # All pages share one loopback host: the politeness delay would measure only itself.
        f"[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\n"
        f'[embed]\nbackend = "{backend}"\nprecision = "{precision}"\ncache_dir = "{CACHE}"\n'
        f"threads = {args.threads}\n"
        f"chunk_overlap_tokens = {args.overlap if overlap is None else overlap}\n"
        + ("multilingual = false\n" if english_only else "")
        + f"[ingest]\nextract_workers = {args.extract_workers}\n"
    )
    return path


def child(spec: str, args: argparse.Namespace, out: Path) -> None:
    """One backend: a cycle over the 181 pages; figures as JSON in `out`, vectors beside it."""
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        figures = measure(spec, args, Path(tmp_name), out)
    out.write_text(json.dumps(figures))


def measure(spec: str, args: argparse.Namespace, tmp: Path, out: Path) -> dict:
    """The cycle over the 181 pages in a warehouse in `tmp`; vectors saved beside `out`."""
    from pipeline.config.settings import load_settings
    from pipeline.extract.article import extract_page
    from pipeline.ingest import Services, run_cycle
    from pipeline.ingest.upkeep import sync_seeds

    backend, precision = backend_settings(spec)
    pages = load_pages(NEWS_PAGES)
    if args.pages and args.pages < len(pages):  # an even spread of the pages, same every run
        pages = pages[:: -(-len(pages) // args.pages)][: args.pages]
    settings = load_settings(
        settings_file(tmp, backend, precision, args, spec.endswith(":en"), overlap_of(spec, args)),
        env={},
    )
    services = Services(settings)
    services.warehouse.migrate()
    t0 = time.perf_counter()
    sync_seeds(services)  # loads the model and the seed corpus: not part of the cycle
    load_s = time.perf_counter() - t0
    services.extractor.start(wait=True)  # workers started: not part of the cycle

    with LoopbackServer() as server:
        feed = serve(server, pages)
        (tmp / "feeds.toml").write_text(f'[[feeds]]\nurl = "{feed}"\n')
        load_before = os.getloadavg()[0]
        started, cpu0 = time.perf_counter(), time.process_time()
        summary = run_cycle(services)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        load_after = os.getloadavg()[0]
        urls = {server.url(f"/page/{p.key}.html"): p for p in pages}
        by_path = {u.split("/page/", 1)[1]: p.key for u, p in urls.items()}
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT a.url, a.text, d.url, a.story_id, e.vector, e.chunks, "
            "list_sort(list(t.topic) FILTER (WHERE t.topic IS NOT NULL)), "
            "a.story_evidence, "
            "list(t.topic || ' ' || round(t.score, 3)::VARCHAR ORDER BY t.topic) "
            "FILTER (WHERE t.topic IS NOT NULL) "
            "FROM articles a JOIN embeddings e ON e.article_id = a.id "
            "LEFT JOIN articles d ON d.id = a.duplicate_of "
            "LEFT JOIN article_topics t ON t.article_id = a.id "
            "WHERE a.source = 'feed' GROUP BY ALL ORDER BY min(a.id)"
        )
    stored = {url: text for url, text, *_ in rows}
    precision_, recall, f1 = corpus_score(
        [(stored.get(url, ""), page.body) for url, page in urls.items()]
    )

    def key(url: str | None) -> str | None:
        return by_path.get(url.split("/page/", 1)[1], url) if url and "/page/" in url else url

    story_first: dict[int, str] = {}
    decisions = {}
    for url, _, dup, story, _, _, topics, evidence, scores in rows:
        story_first.setdefault(story, key(url))
        decisions[key(url)] = {
            "duplicate_of": key(dup),
            "story": story_first[story],
            "topics": list(topics or []),
            "why": {
                "story": story_evidence_line(evidence, key),
                "topics": ", ".join(scores or []) or "none",
            },
        }
    np.savez(
        out.with_suffix(".npz"),
        keys=np.array([key(r[0]) for r in rows]),
        vectors=np.array([r[4] for r in rows], dtype=np.float32),
    )

    # The same work done directly: extract every page, embed every text in batches.
    t1 = t2 = t3 = time.perf_counter()
    if not args.no_direct:
        texts = [(extract_page(p.html, p.url) or None) for p in pages]
        t2 = time.perf_counter()
        services.embedder.embed([t.text for t in texts if t is not None])
        t3 = time.perf_counter()
    services.extractor.close()  # a worker's figures count once it has exited
    usage, workers = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return {
        "spec": spec,
        "backend": services.embedder.backend_name,
        "load_s": load_s,
        "stored": summary.articles_new,
        "pages": len(pages),
        "from_page": summary.from_page,
        "from_feed": summary.from_feed,
        "duplicates": summary.duplicates,
        "precision": precision_,
        "recall": recall,
        "f1": f1,
        "wall": wall,
        "cpu": cpu,
        "load": [load_before, load_after],
        "stage_s": summary.stage_s,
        "chunks": int(sum(r[5] for r in rows)),
        "direct_extract": t2 - t1,
        "direct_embed": t3 - t2,
        "rss_mb": usage.ru_maxrss / 1024,
        "worker_rss_mb": workers.ru_maxrss / 1024,
        "decisions": decisions,
    }


def story_evidence_line(evidence: str | None, key: Callable[[str | None], str | None]) -> str:
    """The story decision's rule and figures, in one line (for --show-diffs)."""
    e = json.loads(evidence) if evidence else {}
    if e.get("rule") == "new story":
        near = e.get("nearest") or {}
        return (
            f"new story (nearest {near.get('story')}: meaning {near.get('meaning')}, "
            f"words {near.get('words')})"
            if near
            else "new story"
        )
    return (
        f"rule {e.get('rule')} via article {e.get('via')}: meaning {e.get('meaning')}, "
        f"words {e.get('words')}"
    )


def run_child(spec: str, args: argparse.Namespace, out: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        spec,
        "--out",
        str(out),
        "--threads",
        str(args.threads),
        "--extract-workers",
        str(args.extract_workers),
        "--overlap",
        str(args.overlap),
        "--pages",
        str(args.pages),
    ]
    if args.no_direct:
        cmd.append("--no-direct")
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def prepare_cache(specs: list[str], args: argparse.Namespace) -> None:
    """Export the ONNX graphs (once; cached) so that no timed run includes an export."""
    from pipeline.config.settings import load_settings
    from pipeline.embed.factory import make_embedder

    for spec in specs:
        backend, precision = backend_settings(spec)
        if backend == "onnx":
            with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
                settings = load_settings(settings_file(Path(tmp), backend, precision, args), env={})
                print(f"{spec}: graph ready ({make_embedder(settings).backend_name})")


def report(r: dict) -> None:
    print(f"\n== {r['spec']} ({r['backend']}); model load + seeds {r['load_s']:.1f} s")
    print(
        f"articles stored: {r['stored']} of {r['pages']} ({r['from_page']} from page, "
        f"{r['from_feed']} from feed, {r['duplicates']} duplicates); {r['chunks']} chunks"
    )
    print(
        f"stored text vs articleBody: precision {r['precision']:.4f}  recall "
        f"{r['recall']:.4f}  F1 {r['f1']:.4f}"
    )
    print(
        f"end to end: {r['wall']:.1f} s, {r['stored'] / r['wall']:.2f} articles/s "
        f"(CPU of the ingest process {r['cpu']:.1f} s; load average {r['load'][0]:.2f} before, "
        f"{r['load'][1]:.2f} after)"
    )
    stages = "  ".join(f"{k} {v:.1f}s" for k, v in r["stage_s"].items())
    print(
        f"stage seconds (pages = fetching and extracting, wall clock; extract = time in "
        f"extraction; embed and write run on the writer thread meanwhile): {stages}"
    )
    direct = r["direct_extract"] + r["direct_embed"]
    if not direct:
        direct = float("nan")
    print(
        f"direct extract {r['direct_extract']:.1f} s + embed {r['direct_embed']:.1f} s = "
        f"{direct:.1f} s; pipeline / direct = {r['wall'] / direct:.2f}"
    )
    print(f"peak RSS: {r['rss_mb']:.0f} MB (+ extraction worker {r['worker_rss_mb']:.0f} MB)")


def compare(runs: dict[str, list[dict]], tmp: Path, show_diffs: bool = False) -> None:
    # Against the first torch run, else against the first backend given.
    base_spec = next((s for s in runs if backend_settings(s)[0] == "torch"), next(iter(runs)))
    base = runs[base_spec]
    base_wall = min(r["wall"] for r in base)
    base_embed = min(r["stage_s"].get("embed", 0.0) for r in base)
    ref = np.load(tmp / f"{base_spec}-0.npz")
    ref_vec = dict(zip(ref["keys"].tolist(), ref["vectors"], strict=False))
    print(f"\n== against {base_spec} (same pages, this run; best of each backend's rounds)")
    print(
        f"{'backend':12} {'articles/s':>10} {'ratio':>6} {'embed s':>8} {'ratio':>6} "
        f"{'cos mean':>9} {'cos min':>8} {'load':>9}  decisions (duplicates, stories, topics)"
    )
    shipped = backend_settings("default")
    goals = []
    for spec, rs in runs.items():
        best = min(rs, key=lambda r: r["wall"])
        wall = best["wall"]
        embed = min(r["stage_s"].get("embed", 0.0) for r in rs)
        got = np.load(tmp / f"{spec}-0.npz")
        cos = [
            float(v @ ref_vec[k])
            for k, v in zip(got["keys"].tolist(), got["vectors"], strict=False)
            if k in ref_vec
        ]
        diffs = []
        for field in ("duplicate_of", "story", "topics"):
            n = sum(
                1
                for k, d in rs[0]["decisions"].items()
                if k in base[0]["decisions"] and d[field] != base[0]["decisions"][k][field]
            )
            diffs.append(f"{n} {field}")
        missing = len(set(base[0]["decisions"]) ^ set(rs[0]["decisions"]))
        load = "-".join(f"{x:.1f}" for x in best["load"])
        print(
            f"{spec:12} {rs[0]['stored'] / wall:10.2f} {base_wall / wall:6.2f} {embed:8.1f} "
            f"{base_embed / embed if embed else 0:6.2f} {np.mean(cos):9.6f} {np.min(cos):8.6f}"
            f" {load:>9}  {', '.join(diffs)} differ; {missing} stored by one only"
        )
        if spec != base_spec and "@" not in spec and backend_settings(spec) == shipped:
            goals.append(
                f"{spec} (the default) {base_wall / wall:.2f} x {base_spec}'s articles/s: goal "
                f">= {GOAL} {'met' if base_wall / wall >= GOAL else 'NOT met'}"
            )
    print("load: the 1-minute load average before-after the best round's cycle")
    for line in goals:
        print(line)
    if show_diffs:
        for spec, rs in runs.items():
            if spec != base_spec:
                list_diffs(base_spec, base[0]["decisions"], spec, rs[0]["decisions"])


def list_diffs(base_spec: str, base: dict, spec: str, got: dict) -> None:
    """Each page whose story or topics differ, with both runs' evidence."""
    shown = False
    for page, d in got.items():
        b = base.get(page)
        if b is None:
            continue
        for field in ("duplicate_of", "story", "topics"):
            if d[field] == b[field]:
                continue
            if not shown:
                print(f"\n== decisions of {spec} that differ from {base_spec}'s")
                shown = True
            why = "story" if field != "topics" else "topics"
            print(
                f"page {page}, {field}: {base_spec} {b[field]!r}, {spec} {d[field]!r}\n"
                f"    {base_spec}: {b['why'][why]}\n    {spec}: {d['why'][why]}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--backends",
        default="torch,onnx-fp32,onnx-int8",
        help="comma-separated: torch, default (the shipped settings'), onnx-fp32, onnx-int8",
    )
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="[embed] threads")
    ap.add_argument("--extract-workers", type=int, default=1, help="[ingest] extract_workers")
    ap.add_argument("--overlap", type=int, default=64, help="[embed] chunk_overlap_tokens")
    ap.add_argument(
        "--pages", type=int, default=0, help="an even spread of this many pages (0: all 181)"
    )
    ap.add_argument(
        "--no-direct",
        action="store_true",
        help="skip the direct extract + embed comparison (halves the run)",
    )
    ap.add_argument(
        "--no-torch",
        action="store_true",
        help="compare against the first backend given instead of torch",
    )
    ap.add_argument(
        "--show-diffs",
        action="store_true",
        help="list each decision that differs from the reference backend's",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    if args.child:
        child(args.child, args, args.out)
        return
    specs = [s.strip() for s in args.backends.split(",") if s.strip()]
    if not any(backend_settings(s)[0] == "torch" for s in specs) and not args.no_torch:
        specs.insert(0, "torch")
    print(
        f"backends {', '.join(specs)}; [embed] threads {args.threads}, overlap {args.overlap}; "
        f"[ingest] extract_workers {args.extract_workers}; rounds {args.rounds}"
    )
    prepare_cache(specs, args)
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runs: dict[str, list[dict]] = {}
        for round_no in range(args.rounds):
            for spec in specs:
                r = run_child(spec, args, tmp / f"{spec}-{round_no}.json")
                runs.setdefault(spec, []).append(r)
                report(r)
        compare(runs, tmp, args.show_diffs)


if __name__ == "__main__":
    main()
