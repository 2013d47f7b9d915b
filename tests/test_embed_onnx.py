"""The ONNX Runtime backend: the default, int8; fp32 gives torch's vectors and decisions, int8
stays close to them; a per-user cache that is verified every time it is read, rebuilt when it is
corrupt or stale, and built once when two processes want it at the same time."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.config.settings import load_settings
from pipeline.embed import onnx_cache
from pipeline.embed.english import Embedder
from pipeline.errors import ConfigError
from pipeline.tag.seeds import load_seeds
from tests.conftest import NEWS_PAGES, REPO, SEEDS, TEST_BACKEND
from tests.helpers import child_env, make_pipeline

LONG = " ".join(
    f"Satellite operator number {i} sold radar images to a military contractor." for i in range(120)
)
OTHER_SCRIPTS = (
    "Роскосмос и китайские компании обмениваются спутниковыми снимками. " * 30,
    "美国财政部对一家向俄罗斯提供卫星图像的中国公司实施制裁。" * 40,
)


def entry(cache: Path, precision: str = "fp32") -> Path:
    [folder] = [
        p
        for p in (cache / onnx_cache.CACHE_SUBDIR).iterdir()
        if p.is_dir() and f"-{precision}-" in p.name and not p.name.startswith(".")
    ]
    return folder


def cosines(a, b) -> np.ndarray:
    return np.sum(np.asarray(a) * np.asarray(b), axis=1)


@pytest.fixture(scope="module")
def fp32_embedder(model_cache):
    """The ONNX fp32 embedder (its graph is the one int8 is quantized from: no second export)."""
    e = Embedder(cache_dir=model_cache, precision="fp32")
    e.encode(["warm up"])
    return e


@pytest.mark.model
def test_onnx_fp32_gives_torch_vectors_on_seeds_and_news_pages(fp32_embedder, torch_embedder):
    assert fp32_embedder.backend_name == "onnx-fp32" and torch_embedder.backend_name == "torch"
    texts = [s.text for s in load_seeds(SEEDS)] + [LONG, *OTHER_SCRIPTS]
    if NEWS_PAGES.exists():  # the whole 181 pages: bench/embed_parity.py
        from pipeline.testkit.corpus import load_pages

        texts += [p.body for p in load_pages(NEWS_PAGES)[::12]]
    fast, ref = fp32_embedder.embed(texts), torch_embedder.embed(texts)
    for a, b in zip(fast, ref, strict=True):
        # Tokenisation and windows are the same, so the chunks line up one to one.
        assert [(c.start_char, c.end_char, c.tokens) for c in a.chunks] == [
            (c.start_char, c.end_char, c.tokens) for c in b.chunks
        ]
        # Same precision, same stored name: the model's and fp32.
        assert a.model == b.model == "sentence-transformers/all-MiniLM-L6-v2#fp32"
    article = cosines([e.vector for e in fast], [e.vector for e in ref])
    chunk = cosines(
        [c.vector for e in fast for c in e.chunks], [c.vector for e in ref for c in e.chunks]
    )
    assert article.min() > 0.9999 and chunk.min() > 0.9999, (article.min(), chunk.min())


@pytest.mark.model
def test_seeds_get_the_same_stories_duplicates_and_tags_at_either_precision_and_on_torch(
    make_settings, embedder, fp32_embedder, torch_embedder, tmp_path
):
    def decisions(e, name, relevance=True):
        settings = make_settings(f'[warehouse]\npath = "{tmp_path / name}"\n')
        services = make_pipeline(settings, e)
        with services.warehouse.connect(read_only=True) as db:
            return db.rows(
                "SELECT a.url, a.duplicate_of, a.story_id, "
                + ("round(a.relevance, 3), " if relevance else "")
                + "list(t.topic ORDER BY t.topic) FROM articles a LEFT JOIN article_topics t "
                "ON t.article_id = a.id WHERE a.source = 'seed' GROUP BY ALL ORDER BY a.url"
            )

    fp32_rows = decisions(fp32_embedder, "fp32.duckdb")
    assert len(fp32_rows) == 5
    assert fp32_rows == decisions(torch_embedder, "torch.duckdb")
    # int8's relevance differs in the third decimal; what it decides does not.
    assert decisions(embedder, "int8.duckdb", relevance=False) == decisions(
        fp32_embedder, "fp32-again.duckdb", relevance=False
    )


@pytest.mark.model
def test_int8_is_the_default_quantized_from_the_cached_fp32_graph_and_close_to_it(
    model_cache, embedder, fp32_embedder
):
    if TEST_BACKEND:
        pytest.skip(f"TEST_EMBED_BACKEND={TEST_BACKEND}: the suite's embedder is not the default")
    assert embedder.backend_name == "onnx-int8"
    texts = [s.text for s in load_seeds(SEEDS)] + [LONG]
    int8, fp32 = embedder.embed(texts), fp32_embedder.embed(texts)
    assert {e.model for e in int8} == {"sentence-transformers/all-MiniLM-L6-v2#int8"}
    cos = cosines([e.vector for e in int8], [e.vector for e in fp32])
    assert cos.min() > 0.97 and cos.mean() > 0.98, cos
    manifest = json.loads((entry(model_cache, "int8") / "manifest.json").read_text())
    assert manifest["key"]["precision"] == "int8"
    assert manifest["key"]["reduce_range"] == (not onnx_cache.cpu_has_vnni())
    assert manifest["parity"]["min"] >= onnx_cache.PARITY_MIN_COSINE["int8"]
    # The fp32 entry the int8 graph was quantized from is cached too: one export per machine.
    assert json.loads((entry(model_cache, "fp32") / "manifest.json").read_text())["parity"]


@pytest.mark.model
def test_an_int8_vector_does_not_depend_on_the_texts_embedded_with_it(embedder):
    if TEST_BACKEND:
        pytest.skip(f"TEST_EMBED_BACKEND={TEST_BACKEND}: the suite's embedder is not the default")
    # int8 quantizes activations with one scale per model call: in a shared call, one article's
    # vectors would move with whatever arrived beside it, and so would its duplicate and story
    # decisions.
    seeds = [s.text for s in load_seeds(SEEDS)]
    alone = [embedder.embed([t])[0] for t in seeds[:2]]
    together = embedder.embed([*OTHER_SCRIPTS, seeds[1], LONG, seeds[0], "A short line."])
    for one, other in zip(alone, (together[4], together[2]), strict=True):
        np.testing.assert_array_equal(one.vector, other.vector)
        for a, b in zip(one.chunks, other.chunks, strict=True):
            np.testing.assert_array_equal(a.vector, b.vector)
    assert embedder.chunks_per_call == 1
    assert (
        Embedder(cache_dir=embedder.cache_dir, precision="fp32", batch_size=8).chunks_per_call == 8
    )


@pytest.mark.model
@pytest.mark.slow
def test_a_truncated_cached_graph_is_rebuilt_not_used(
    model_cache, embedder, fp32_embedder, tmp_path, caplog
):
    # A copy of the cache whose int8 graph is cut in half: rebuilt by quantizing the cached
    # fp32 graph again (seconds: no torch export).
    for precision in ("fp32", "int8"):
        shutil.copytree(
            entry(model_cache, precision),
            tmp_path / onnx_cache.CACHE_SUBDIR / entry(model_cache, precision).name,
        )
    graph = entry(tmp_path, "int8") / "model.onnx"
    good = graph.read_bytes()
    with graph.open("r+b") as fh:
        fh.truncate(len(good) // 2)
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.onnx_cache"):
        rebuilt = Embedder(cache_dir=tmp_path, precision="int8")
        assert rebuilt.backend_name == "onnx-int8"
    assert any(
        "corrupt" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records
    )
    assert graph.stat().st_size == len(good)
    text = ["Spacety sold radar images of Ukraine to Wagner."]
    assert float(rebuilt.encode(text)[0] @ embedder.encode(text)[0]) > 0.9999


@pytest.mark.model
def test_an_altered_or_stale_entry_is_refused(model_cache, tmp_path):
    shutil.copytree(entry(model_cache), tmp_path / "e")
    folder = tmp_path / "e"
    manifest = json.loads((folder / "manifest.json").read_text())
    key = onnx_cache.CacheKey(**manifest["key"])
    graph, _, problem = onnx_cache.read_entry(folder, key)
    assert graph is not None and problem is None

    # One byte changed, same size: the checksum catches it.
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    graph, _, problem = onnx_cache.read_entry(folder, key)
    assert graph is None and problem.startswith("corrupt")

    # Built by another onnxruntime (or torch, or for other weights): stale.
    newer = replace(key, onnxruntime="99.0")
    graph, _, problem = onnx_cache.read_entry(folder, newer)
    assert graph is None and problem.startswith("stale")
    assert newer.folder != key.folder

    (folder / "manifest.json").write_text("{not json")
    assert onnx_cache.read_entry(folder, key)[2].startswith("unreadable")


def test_entries_of_other_library_versions_are_removed_once_unused_for_a_month(tmp_path):
    key = onnx_cache.CacheKey("ab" * 32, "fp32", False, "2.13.0", "1.0", "1.0")
    # Another virtualenv's entry, in use (kept: environments sharing the cache must not delete
    # each other's graph), one unread for longer than STALE_AFTER_S, the other precision's.
    recent, old = replace(key, onnxruntime="0.9"), replace(key, onnxruntime="0.8")
    other_precision = replace(key, precision="int8")
    # Ages are set against this process's clock (a faked clock, `make test-dates`, does not
    # move the times the file system gives new files).
    now = time.time()
    past = now - onnx_cache.STALE_AFTER_S - 60
    for k in (recent, old, other_precision):
        onnx_cache.write_entry(tmp_path, k, b"old graph", {"parity": {"mean": 1.0, "min": 1.0}})
        os.utime(onnx_cache.entry_dir(tmp_path, k), (now, now))
    os.utime(onnx_cache.entry_dir(tmp_path, old), (past, past))
    orphan = tmp_path / onnx_cache.CACHE_SUBDIR / f".{key.folder}.dead"  # a writer that died
    orphan.mkdir()
    os.utime(orphan, (past, past))
    folder = onnx_cache.write_entry(tmp_path, key, b"graph", {"parity": {"mean": 1.0, "min": 1.0}})
    names = sorted(p.name for p in (tmp_path / onnx_cache.CACHE_SUBDIR).iterdir())
    assert names == sorted([key.folder, recent.folder, other_precision.folder])
    graph, manifest, problem = onnx_cache.read_entry(folder, key)
    assert graph == b"graph" and problem is None and manifest["parity"]["min"] == 1.0


def fake_build(graph: bytes, calls: list[int]):
    def build():
        calls.append(1)
        return graph, {"parity": {"mean": 1.0, "min": 1.0}}

    return build


def test_a_corrupt_or_stale_entry_is_rebuilt_never_trusted(tmp_path, caplog):
    key = onnx_cache.CacheKey("cd" * 32, "int8", True, "2.13.0", "1.0", "1.0")
    calls: list[int] = []
    build = fake_build(b"the graph" * 1000, calls)
    assert onnx_cache.cached_entry(tmp_path, key, build)[0] == b"the graph" * 1000
    assert onnx_cache.cached_entry(tmp_path, key, build)[0] == b"the graph" * 1000
    assert len(calls) == 1  # the second time from the cache
    folder = onnx_cache.entry_dir(tmp_path, key)
    for damage in (
        lambda: (folder / "model.onnx").write_bytes(b"the graph" * 500),  # truncated
        lambda: (folder / "manifest.json").write_text("{"),  # unreadable
        lambda: (folder / "manifest.json").write_text(  # made for another key
            json.dumps({**json.loads((folder / "manifest.json").read_text()), "key": {}})
        ),
    ):
        damage()
        with caplog.at_level(logging.WARNING, logger="pipeline.embed.onnx_cache"):
            caplog.clear()
            assert onnx_cache.cached_entry(tmp_path, key, build)[0] == b"the graph" * 1000
        assert "rebuilding" in caplog.text
        assert onnx_cache.read_entry(folder, key)[2] is None  # whole again
    assert len(calls) == 4


EXPORTER = """
import hashlib, os, sys, time
from pathlib import Path
from pipeline.embed import onnx_cache
cache, calls = Path(sys.argv[1]), Path(sys.argv[2])
key = onnx_cache.CacheKey("ef" * 32, "int8", True, "2.13.0", "1.0", "1.0")
def build():
    with calls.open("a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(1.5)  # an export takes long: the other process arrives meanwhile
    return b"graph of %d" % os.getpid() * 100000, {"parity": {"mean": 1.0, "min": 1.0}}
graph, _ = onnx_cache.cached_entry(cache, key, build)
print(hashlib.sha256(graph).hexdigest())
"""


def test_two_processes_exporting_at_once_build_one_entry_and_both_use_it(tmp_path):
    calls = tmp_path / "builds"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", EXPORTER, str(tmp_path / "cache"), str(calls)],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert len(calls.read_text().split()) == 1  # one built, the other waited for its entry
    key = onnx_cache.CacheKey("ef" * 32, "int8", True, "2.13.0", "1.0", "1.0")
    graph, _, problem = onnx_cache.read_entry(onnx_cache.entry_dir(tmp_path / "cache", key), key)
    assert problem is None and outputs == [hashlib.sha256(graph).hexdigest()] * 2
    names = sorted(p.name for p in (tmp_path / "cache" / onnx_cache.CACHE_SUBDIR).iterdir())
    assert names == [key.folder, f"{key.folder}.lock"]  # no half-written folder left


@pytest.mark.model
def test_a_graph_below_the_parity_threshold_is_not_used(model_cache, tmp_path, caplog):
    shutil.copytree(
        entry(model_cache), tmp_path / onnx_cache.CACHE_SUBDIR / entry(model_cache).name
    )
    manifest_path = entry(tmp_path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["parity"]["min"] = 0.5
    manifest_path.write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        e = Embedder(cache_dir=tmp_path, precision="fp32")
        assert e.backend_name == "torch"
    assert any("differs from torch" in r.getMessage() for r in caplog.records)


@pytest.mark.model
def test_without_onnxruntime_the_embedder_falls_back_to_torch(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.english"):
        e = Embedder(cache_dir=tmp_path)
        assert e.backend_name == "torch"
    assert any("onnxruntime is not installed" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / onnx_cache.CACHE_SUBDIR).exists()


def test_int8_is_the_default_and_the_cache_is_per_user_unless_cache_dir_says(tmp_path, monkeypatch):
    from pipeline.embed.factory import make_embedder, model_cache_dir
    from pipeline.embed.model_files import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "settings.toml"
    path.write_text('[warehouse]\npath = "data/w.duckdb"\n')
    settings = load_settings(path, env={})
    assert (settings.embed.backend, settings.embed.precision) == ("onnx", "int8")
    assert Embedder().precision == "int8"  # an embedder made without settings: the shipped ones
    # One cache per user, whatever the warehouse: not beside it.
    assert default_cache_dir() == tmp_path / "xdg" / "newswatch"
    assert make_embedder(settings).cache_dir == model_cache_dir(settings) == default_cache_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() in (
        Path.home() / ".cache" / "newswatch",
        Path(os.path.expanduser("~/Library/Caches/newswatch")),  # platformdirs, on macOS
    )
    path.write_text('[embed]\ncache_dir = "cache"\nprecision = "fp32"\n')
    overridden = make_embedder(load_settings(path, env={}))
    assert overridden.cache_dir == tmp_path / "cache" and overridden.precision == "fp32"
    for bad in ('backend = "tensorflow"', 'precision = "fp16"', "threads = -1"):
        path.write_text(f"[embed]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[embed\]"):
            load_settings(path, env={})
