"""The ONNX Runtime backend: the default, the same vectors and decisions as torch, a cache that
is verified every time it is read and rebuilt when it is corrupt or stale."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.config.settings import load_settings
from pipeline.embed import onnx_cache
from pipeline.embed.english import Embedder
from pipeline.errors import ConfigError
from pipeline.tag.seeds import load_seeds
from tests.conftest import NEWS_PAGES, SEEDS, TEST_BACKEND
from tests.helpers import make_pipeline

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


@pytest.mark.model
def test_onnx_fp32_is_the_default_and_gives_torch_vectors_on_seeds_and_news_pages(
    embedder, torch_embedder
):
    if TEST_BACKEND:
        pytest.skip(f"TEST_EMBED_BACKEND={TEST_BACKEND}: the suite's embedder is not the default")
    assert embedder.backend_name == "onnx-fp32" and torch_embedder.backend_name == "torch"
    texts = [s.text for s in load_seeds(SEEDS)] + [LONG, *OTHER_SCRIPTS]
    if NEWS_PAGES.exists():  # the whole 181 pages: bench/embed_parity.py
        from pipeline.testkit.corpus import load_pages

        texts += [p.body for p in load_pages(NEWS_PAGES)[::12]]
    fast, ref = embedder.embed(texts), torch_embedder.embed(texts)
    for a, b in zip(fast, ref, strict=True):
        # Tokenisation and windows are the same, so the chunks line up one to one.
        assert [(c.start_char, c.end_char, c.tokens) for c in a.chunks] == [
            (c.start_char, c.end_char, c.tokens) for c in b.chunks
        ]
        assert a.model == b.model
    article = cosines([e.vector for e in fast], [e.vector for e in ref])
    chunk = cosines(
        [c.vector for e in fast for c in e.chunks], [c.vector for e in ref for c in e.chunks]
    )
    assert article.min() > 0.9999 and chunk.min() > 0.9999, (article.min(), chunk.min())


@pytest.mark.model
def test_seeds_get_the_same_stories_duplicates_and_tags_on_both_backends(
    make_settings, embedder, torch_embedder, tmp_path
):
    def decisions(e, name):
        settings = make_settings(f'[warehouse]\npath = "{tmp_path / name}"\n')
        services = make_pipeline(settings, e)
        with services.warehouse.connect(read_only=True) as db:
            return db.rows(
                "SELECT a.url, a.duplicate_of, a.story_id, round(a.relevance, 3), "
                "list(t.topic ORDER BY t.topic) FROM articles a LEFT JOIN article_topics t "
                "ON t.article_id = a.id WHERE a.source = 'seed' GROUP BY ALL ORDER BY a.url"
            )

    onnx_rows = decisions(embedder, "onnx.duckdb")
    assert len(onnx_rows) == 5
    assert onnx_rows == decisions(torch_embedder, "torch.duckdb")


@pytest.mark.model
@pytest.mark.slow
def test_int8_stays_close_to_fp32(model_cache, embedder):
    int8 = Embedder(cache_dir=model_cache, precision="int8")
    assert int8.backend_name == "onnx-int8"
    texts = [s.text for s in load_seeds(SEEDS)] + [LONG]
    cos = cosines([e.vector for e in int8.embed(texts)], [e.vector for e in embedder.embed(texts)])
    assert cos.min() > 0.97 and cos.mean() > 0.98, cos
    manifest = json.loads((entry(model_cache, "int8") / "manifest.json").read_text())
    assert manifest["key"]["precision"] == "int8"
    assert manifest["key"]["reduce_range"] == (not onnx_cache.cpu_has_vnni())


@pytest.mark.model
@pytest.mark.slow
def test_a_truncated_cached_graph_is_rebuilt_not_used(model_cache, embedder, tmp_path, caplog):
    shutil.copytree(
        model_cache / onnx_cache.CACHE_SUBDIR,
        tmp_path / onnx_cache.CACHE_SUBDIR,
        ignore=shutil.ignore_patterns("*int8*", ".*"),
    )
    graph = entry(tmp_path) / "model.onnx"
    good = graph.stat().st_size
    with graph.open("r+b") as fh:
        fh.truncate(good // 2)
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.onnx_cache"):
        rebuilt = Embedder(cache_dir=tmp_path)
        assert rebuilt.backend_name == "onnx-fp32"
    assert any(
        "corrupt" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records
    )
    assert graph.stat().st_size == good
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


def test_a_new_entry_replaces_stale_ones_and_is_written_whole(tmp_path):
    key = onnx_cache.CacheKey("ab" * 32, "fp32", False, "2.13.0", "1.0", "1.0")
    old = replace(key, onnxruntime="0.9")
    other_precision = replace(key, precision="int8")
    for k in (old, other_precision):
        onnx_cache.write_entry(tmp_path, k, b"old graph", {"parity": {"mean": 1.0, "min": 1.0}})
    folder = onnx_cache.write_entry(tmp_path, key, b"graph", {"parity": {"mean": 1.0, "min": 1.0}})
    names = sorted(p.name for p in (tmp_path / onnx_cache.CACHE_SUBDIR).iterdir())
    assert names == sorted([key.folder, other_precision.folder])  # the stale fp32 one is gone
    graph, manifest, problem = onnx_cache.read_entry(folder, key)
    assert graph == b"graph" and problem is None and manifest["parity"]["min"] == 1.0


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
        e = Embedder(cache_dir=tmp_path)
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


def test_backend_and_precision_are_validated_and_the_cache_defaults_beside_the_warehouse(tmp_path):
    from pipeline.embed.factory import make_embedder

    path = tmp_path / "settings.toml"
    path.write_text('[warehouse]\npath = "data/w.duckdb"\n')
    settings = load_settings(path, env={})
    assert (settings.embed.backend, settings.embed.precision) == ("onnx", "fp32")
    assert make_embedder(settings).cache_dir == tmp_path / "data" / "model-cache"
    path.write_text('[embed]\ncache_dir = "cache"\n')
    assert make_embedder(load_settings(path, env={})).cache_dir == tmp_path / "cache"
    for bad in ('backend = "tensorflow"', 'precision = "fp16"', "threads = -1"):
        path.write_text(f"[embed]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[embed\]"):
            load_settings(path, env={})
