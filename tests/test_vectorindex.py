"""The chunk vector index: range search against brute force (exact and HNSW), removal,
persistence, and how the services load, extend or rebuild it beside the warehouse."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC

import numpy as np
import pytest

from pipeline.dedup.vectorindex import VectorIndex, index_paths
from pipeline.ingest.batch import BatchStep

DIM = 64


def unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=-1, keepdims=True)).astype(np.float32)


def near(rng: np.random.Generator, v: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """Unit vectors at exactly these cosines to v."""
    noise = rng.standard_normal((len(cos), v.size)).astype(np.float32)
    noise -= np.outer(noise @ v, v)
    noise = unit(noise)
    return unit(cos[:, None] * v[None, :] + np.sqrt(1 - cos[:, None] ** 2) * noise)


def planted(seed: int = 0, articles: int = 1000, chunks: int = 3, queries: int = 40):
    """Random stored articles, plus articles planted close to the queries: a few queries have
    more neighbours above the floor than the first k of an HNSW search."""
    rng = np.random.default_rng(seed)
    q = unit(rng.standard_normal((queries, DIM)))
    stored: list[tuple[int, np.ndarray]] = []
    for k in range(articles):
        stored.append((k + 1, unit(rng.standard_normal((chunks, DIM)))))
    owner = articles + 1
    for i, v in enumerate(q):
        many = 60 if i % 10 == 0 else 4
        for c in near(rng, v, rng.uniform(0.6, 0.99, many)):
            stored.append((owner, np.vstack([c, unit(rng.standard_normal((1, DIM)))[0]])))
            owner += 1
    return q, stored


def brute(q: np.ndarray, stored, floor: float) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for owner, m in stored:
        sims = q @ m.T
        for qi, si in zip(*np.nonzero(sims >= floor), strict=True):
            key = (int(qi), owner)
            out[key] = max(out.get(key, -1.0), float(sims[qi, si]))
    return out


def found(index: VectorIndex, q: np.ndarray, floor: float) -> dict[tuple[int, int], float]:
    rows, owners, sims = index.search(q, floor)
    out: dict[tuple[int, int], float] = {}
    for key, s in zip(zip(rows.tolist(), owners.tolist(), strict=True), sims.tolist(), strict=True):
        out[key] = max(out.get(key, -1.0), s)
    return out


def filled(stored, exact_below: int) -> VectorIndex:
    index = VectorIndex(DIM, exact_below=exact_below)
    for owner, m in stored:
        index.add(owner, m)
    return index


@pytest.mark.parametrize("floor", [0.72, 0.90])
def test_exact_search_equals_brute_force(floor):
    q, stored = planted()
    index = filled(stored, exact_below=10**9)
    assert not index.approximate
    truth, got = brute(q, stored, floor), found(index, q, floor)
    assert got.keys() == truth.keys() and truth
    assert all(abs(got[k] - truth[k]) < 1e-5 for k in truth)


@pytest.mark.parametrize("floor", [0.72, 0.90])
def test_graph_search_finds_every_neighbour_above_the_floor(floor):
    q, stored = planted()
    index = filled(stored, exact_below=500)
    assert index.approximate and index.size == sum(len(m) for _, m in stored)
    truth, got = brute(q, stored, floor), found(index, q, floor)
    busiest = max(sum(1 for (qi, _) in truth if qi == i) for i in range(len(q)))
    assert busiest > 16  # more than the first k: only the adaptive search finds them all
    # float16 storage moves cosines by about 1e-3: pairs that close to the floor may flip.
    firm = {k for k, v in truth.items() if v >= floor + 2e-3}
    assert len(firm & got.keys()) / len(firm) >= 0.99
    assert all(v >= floor for v in got.values())
    assert all(abs(got[k] - truth[k]) < 5e-3 for k in got.keys() & truth.keys())


def test_removed_articles_are_never_found_and_can_come_back():
    q, stored = planted(seed=1)
    for exact_below in (10**9, 500):
        index = filled(stored, exact_below)
        truth = brute(q, stored, 0.72)
        gone = sorted({owner for _, owner in truth})[::2]
        index.remove(gone + [10**9])  # an id never added is ignored
        got = found(index, q, 0.72)
        assert not {owner for _, owner in got} & set(gone)
        assert {owner for _, owner in got} >= {o for _, o in truth if o not in gone} - {0}
        by_owner = dict(stored)
        index.add(gone[0], by_owner[gone[0]])
        assert gone[0] in {owner for _, owner in found(index, q, 0.72)}
        assert index.size == sum(len(m) for o, m in stored if o not in gone[1:])


def test_another_dimension_is_never_compared():
    _, stored = planted(articles=50, queries=2)
    index = filled(stored, exact_below=10)
    other = unit(np.random.default_rng(3).standard_normal((4, DIM * 2)))
    assert found(index, other, -1.0) == {}
    with pytest.raises(ValueError):
        index.add(99999, other)


def test_saved_index_loads_with_the_same_answers(tmp_path):
    q, stored = planted(seed=2)
    index = filled(stored, exact_below=500)
    path, info = index_paths(tmp_path / "w.duckdb")
    assert index.save(path, info, model="m")
    assert json.loads(info.read_text())["rows"] == index.size
    loaded = VectorIndex.load(path, info, model="m", dim=DIM, exact_below=0)
    assert loaded is not None and loaded.size == index.size
    assert loaded.max_owner == index.max_owner and loaded.owners() == index.owners()
    assert found(loaded, q, 0.72) == found(index, q, 0.72)
    # Another model's vectors are never loaded; no file at all is no error.
    assert VectorIndex.load(path, info, model="other", dim=DIM) is None
    assert VectorIndex.load(tmp_path / "none", tmp_path / "none.json", model="m") is None


def test_exact_index_is_not_written(tmp_path):
    _, stored = planted(articles=20, queries=2)
    path, info = index_paths(tmp_path / "w.duckdb")
    assert not filled(stored, exact_below=10**9).save(path, info, model="m")
    assert not path.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "json"])
def test_a_damaged_file_loads_as_none_with_one_warning(tmp_path, caplog, damage):
    _, stored = planted(articles=300, queries=5)
    path, info = index_paths(tmp_path / "w.duckdb")
    filled(stored, exact_below=100).save(path, info, model="m")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    else:
        info.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="pipeline.dedup.vectorindex"):
        assert VectorIndex.load(path, info, model="m", dim=DIM, exact_below=0) is None
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


# -- beside the warehouse: the services load, extend, or rebuild it ------------------------------

REPORTS = [
    "The US Treasury sanctioned the Chinese satellite company Spacety for supplying radar imagery "
    "of Ukraine to the Wagner Group; its Luxembourg subsidiary was designated as well.",
    "Heavy rain flooded large parts of the river valley overnight and crews used boats to reach "
    "villages cut off by the water while the governor declared a state of emergency.",
    "Prosecutors charged an engineer with passing satellite design files to a foreign "
    "intelligence service after a two-year investigation into the space agency's contractors.",
    "The central bank held interest rates steady and said inflation is expected to ease slowly "
    "over the next year as energy prices fall back from their winter peak.",
]


def _store(services, texts: list[str], first_id: int) -> None:
    from datetime import datetime

    from pipeline.models import ArticleDraft
    from pipeline.store import articles as article_store

    now = datetime(2026, 11, 23, tzinfo=UTC)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://x.org/{first_id + i}",
            title=f"t{i}",
            text=t,
            text_source="page",
            fetched_at=now,
            lang="en",
        )
        for i, t in enumerate(texts)
    ]
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    stored = BatchStep(services).process(drafts, first_id=first_id)
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)


def _fresh(settings, embedder):
    from pipeline.ingest import Services

    services = Services(settings, embedder=embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    return services


def _decisions(services, texts: list[str], first_id: int):
    from datetime import datetime

    from pipeline.models import ArticleDraft

    now = datetime(2026, 11, 24, tzinfo=UTC)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://y.org/{i}",
            title="t",
            text=t,
            text_source="page",
            fetched_at=now,
            lang="en",
        )
        for i, t in enumerate(texts)
    ]
    return [
        (a.dedup.duplicate_of, a.dedup.story_id)
        for a in BatchStep(services).process(drafts, first_id)
    ]


@pytest.fixture
def saved(make_settings, fake_embedder):
    """A warehouse of seeds and four reports, its vector index saved beside it (HNSW from the
    first row); an exact twin of the settings for reference."""
    from tests.helpers import make_pipeline

    settings = make_settings("[dedup]\nvector_index_min_rows = 0\n")
    services = make_pipeline(settings, fake_embedder)
    _store(services, REPORTS[:3], first_id=100)
    assert services.save_vectors()
    assert not services.save_vectors(force=True)  # nothing changed since
    return settings, services


PROBES = [
    "Editor's note: republished. " + REPORTS[0],
    "Update: " + REPORTS[3],
    "A completely unrelated note about gardening in spring and summer.",
]


def test_saved_index_is_loaded_and_extended_with_what_was_stored_since(
    saved, fake_embedder, caplog
):
    settings, services = saved
    path, info = index_paths(settings.warehouse.path)
    assert path.exists() and json.loads(info.read_text())["max_owner"] == 102
    _store(services, REPORTS[3:], first_id=103)  # stored after the save
    with caplog.at_level(logging.INFO, logger="pipeline.ingest.services"):
        fresh = _fresh(settings, fake_embedder)
    assert "from the saved index" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert fresh.index.vectors.approximate and 103 in fresh.index.vectors.owners()
    exact = _fresh(_exact(settings), fake_embedder)
    assert not exact.index.vectors.approximate
    got = _decisions(fresh, PROBES, first_id=500)
    assert got == _decisions(exact, PROBES, first_id=500)
    assert got[0][0] == 100 and got[1][0] == 103 and got[2] == (None, 502)


def _exact(settings):
    import dataclasses

    return dataclasses.replace(
        settings, dedup=dataclasses.replace(settings.dedup, vector_index_min_rows=10**9)
    )


@pytest.mark.parametrize("damage", ["corrupt", "deleted_last", "deleted_middle"])
def test_damaged_or_stale_index_is_rebuilt_with_one_warning(saved, fake_embedder, caplog, damage):
    from pipeline.store import articles as article_store

    settings, services = saved
    path, _ = index_paths(settings.warehouse.path)
    if damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        with services.warehouse.transaction() as db:
            article_store.delete_articles(db, [102 if damage == "deleted_last" else 101])
    with caplog.at_level(logging.INFO):
        fresh = _fresh(settings, fake_embedder)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rebuilding" in warnings[0].getMessage()
    assert "from the saved index" not in caplog.text
    gone = set() if damage == "corrupt" else {102 if damage == "deleted_last" else 101}
    assert fresh.index.vectors.owners() >= {100, 101, 102} - gone
    assert not fresh.index.vectors.owners() & gone
    # The rebuilt index is written at the next save; the one after loads it without complaint.
    assert fresh.save_vectors()
    assert _decisions(fresh, PROBES[:1], 500)[0][0] == 100
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = _fresh(settings, fake_embedder)
    assert "from the saved index" in caplog.text and "WARNING" not in caplog.text
    assert again.index.vectors.owners() == fresh.index.vectors.owners() - {500}


def test_no_file_is_no_warning_and_exact_mode_writes_none(make_settings, fake_embedder, caplog):
    from tests.helpers import make_pipeline

    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    with caplog.at_level(logging.WARNING):
        _store(services, REPORTS, first_id=100)
    assert not caplog.records
    assert not services.save_vectors(force=True)
    assert not index_paths(settings.warehouse.path)[0].exists()


def test_ingest_cycles_save_the_index_and_a_new_process_continues_from_it(
    make_settings, fake_embedder, loopback, caplog
):
    from pipeline.ingest import run_cycle
    from pipeline.testkit.server import rss
    from tests.helpers import make_pipeline, write_feeds

    settings = make_settings(
        "[dedup]\nvector_index_min_rows = 0\nvector_index_save_s = 0\n\n"
        "[ingest]\nfetch_pages = false\n"
    )
    items = [
        {
            "title": f"Report {i}",
            "link": f"http://news.example/{i}",
            "guid": f"g{i}",
            "content": f"<p>{text}</p>",
        }
        for i, text in enumerate(REPORTS)
    ]
    loopback.route("/a.xml", rss(items[:2]), content_type="application/rss+xml")
    loopback.route("/b.xml", rss(items[2:]), content_type="application/rss+xml")
    services = make_pipeline(settings, fake_embedder)
    write_feeds(settings, [loopback.url("/a.xml"), loopback.url("/b.xml")])
    assert run_cycle(services, feeds=[loopback.url("/a.xml")]).articles_new == 2
    path, info = index_paths(settings.warehouse.path)
    saved_first = json.loads(info.read_text())["max_owner"]
    # The next cycle starts by saving what the previous one stored, then stores more.
    assert run_cycle(services, feeds=[loopback.url("/b.xml")]).articles_new == 2
    assert json.loads(info.read_text())["max_owner"] > saved_first
    with services.warehouse.connect(read_only=True) as db:
        feed_ids = [
            r[0] for r in db.rows("SELECT id FROM articles WHERE source = 'feed' ORDER BY id")
        ]
    with caplog.at_level(logging.INFO, logger="pipeline.ingest.services"):
        fresh = _fresh(settings, fake_embedder)
    assert "from the saved index" in caplog.text
    assert set(feed_ids) <= fresh.index.vectors.owners()
    assert (
        run_cycle(fresh, feeds=[loopback.url("/a.xml"), loopback.url("/b.xml")]).articles_new == 0
    )


def test_a_process_that_builds_a_graph_before_loading_the_model_survives_onnxruntime():
    # A daemon may load the saved index (usearch) before its embedder loads onnxruntime; in
    # that order the two native libraries crash the process unless usearch comes second.
    script = (
        "import numpy as np\n"
        "from pipeline.dedup.vectorindex import VectorIndex\n"
        "index = VectorIndex(4, exact_below=1)\n"
        "index.add(1, np.eye(4, dtype=np.float32)[:2])\n"
        "assert index.approximate\n"
        "import onnxruntime\n"
        "print('alive')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and "alive" in done.stdout, done.stderr[-2000:]
