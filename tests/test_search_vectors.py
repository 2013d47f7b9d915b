"""Meaning search through the chunk vector index saved beside the warehouse: the same results as
exact search, what was stored after the save found too, filters still filling the ranking, and
any index that cannot be trusted (damaged, another model's, another warehouse's, too small)
left for exact search."""

from __future__ import annotations

import json
import logging
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.dedup.vectorindex import index_paths
from pipeline.ingest.writer import Writer
from pipeline.models import ArticleDraft, SearchFilters
from pipeline.search import savedindex, vectors
from pipeline.search.engine import (
    SearchOptions,
    VectorSource,
    meaning_ranking,
    prepare,
    search,
)
from pipeline.search.request import look_ahead
from pipeline.search.saved import SavedSearches

NOW = datetime.now(UTC)
SUBJECTS = {
    "space": "satellite orbit launch rocket lunar lander probe telescope astronaut payload "
    "mission station booster capsule mars crater",
    "money": "bank interest rate inflation bond market loan central currency deficit budget "
    "treasury shares investor dividend",
    "weather": "storm rain flood forecast wind drought heat snow hurricane frost temperature "
    "cloud thunder monsoon season",
    "sport": "match goal league coach striker season final trophy referee stadium penalty "
    "transfer keeper cup derby",
    "health": "hospital vaccine doctor patient virus clinic nurse disease treatment surgery "
    "trial dose outbreak ward symptom",
}
COMMON = [
    "the",
    "city",
    "said",
    "officials",
    "report",
    "new",
    "week",
    "after",
    "year",
    "people",
    "local",
    "plan",
    "group",
]
TOPIC = "probe-topic"


def article_texts(seed: int = 7, per_subject: int = 12) -> list[tuple[str, str, str, int]]:
    """(subject, title, text, days ago) of synthetic reports: words of one subject and common
    words, about 110 words each (three chunks of the fake embedder)."""
    rng = random.Random(seed)
    out = []
    for subject, words in SUBJECTS.items():
        vocab = words.split()
        for i in range(per_subject):
            body = [rng.choice(vocab) if rng.random() < 0.7 else rng.choice(COMMON)]
            body += [rng.choice(vocab) if rng.random() < 0.7 else rng.choice(COMMON)]
            body += [rng.choice(vocab + COMMON) for _ in range(108)]
            out.append((subject, f"{subject} report {i}", " ".join(body), (i * 3) % 37))
    return out


def store(services, items, lang: str = "en") -> list[int]:
    """Store (title, text, days ago) reports through the single writer."""
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"https://news.example/{lang}/{abs(hash((title, text)))}",
            title=title,
            text=text,
            text_source="page",
            fetched_at=NOW,
            canonical_url=f"https://news.example/{lang}/{abs(hash((title, text)))}",
            published_at=NOW - timedelta(days=days),
            lang=lang,
        )
        for title, text, days in items
    ]
    writer = Writer(services)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        writer.start(db)
    return [a.id for a in writer.store(drafts)]


@pytest.fixture(autouse=True)
def fresh_mappings():
    savedindex.forget_mapped()
    yield
    savedindex.forget_mapped()


SETTINGS = "[dedup]\nvector_index_min_rows = 0\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory, model_cache):
    """Sixty reports of five subjects, the chunk vector index saved beside the warehouse (HNSW
    from the first chunk); the reports of one subject carry a topic. Built once, copied for
    each test."""
    from pipeline.testkit.fakes import FakeEmbedder
    from tests.conftest import settings_maker
    from tests.helpers import make_pipeline

    folder = tmp_path_factory.mktemp("indexed")
    services = make_pipeline(settings_maker(folder, model_cache)(SETTINGS), FakeEmbedder())
    texts = article_texts()
    ids = store(services, [(t, x, d) for _, t, x, d in texts])
    with services.warehouse.transaction() as db:
        for aid, (subject, *_rest) in zip(ids, texts, strict=True):
            if subject == "space":
                db.execute(
                    "INSERT INTO article_topics (article_id, topic, score, evidence) "
                    "VALUES (?, ?, 1.0, '{}')",
                    [aid, TOPIC],
                )
    assert services.save_vectors(force=True)
    return folder / "warehouse"


@pytest.fixture
def indexed(built, make_settings, fake_embedder):
    """The built warehouse and its index, copied for this test."""
    from pipeline.ingest import Services

    settings = make_settings(SETTINGS)
    Path(settings.warehouse.path).parent.mkdir(parents=True, exist_ok=True)
    for name in ("test.duckdb", "test.duckdb.vectors.usearch", "test.duckdb.vectors.json"):
        shutil.copy2(built / name, Path(settings.warehouse.path).with_name(name))
    return Services(settings, embedder=fake_embedder)


QUERIES = [
    "rocket launch to the lunar station",
    "central bank raises interest rate against inflation",
    "flood warning after heavy rain and storm",
    "striker scores in the cup final",
    "hospital nurses treat virus outbreak",
    "officials said the city plan",
]


@pytest.fixture
def spy(monkeypatch):
    """Counts the rankings that went through the saved index."""
    calls: list[int] = []
    ranking = vectors.ranking

    def counted(*args, **kwargs):
        calls.append(1)
        return ranking(*args, **kwargs)

    monkeypatch.setattr(vectors, "ranking", counted)
    return calls


def probes(services, query: str):
    return prepare(query, [VectorSource("chunk_embeddings", services.embedder)], "meaning").probes


def both(services, query: str, *, depth: int = 100, filters: SearchFilters = SearchFilters()):
    """The meaning ranking exactly and through the saved index."""
    with services.warehouse.connect(read_only=True) as db:
        exact = meaning_ranking(
            db, probes(services, query), depth=depth, filters=filters, vector_index=False
        )
        indexed = meaning_ranking(
            db, probes(services, query), depth=depth, filters=filters, vector_index_min_rows=0
        )
    return exact, indexed


#: Cosines through the index come from its float16 vectors: within 5e-5 of the float32 ones for
#: the real model, a few 1e-4 for the fake embedder's 64 dimensions.
CLOSE = 1e-3


def assert_same(exact, indexed):
    """The same ranking, but for articles whose cosines are within CLOSE (near ties)."""
    assert len(indexed) == len(exact)
    assert all(
        abs(a.similarity - b.similarity) < CLOSE for a, b in zip(exact, indexed, strict=True)
    )
    where = {h.article_id: i for i, h in enumerate(exact)}
    for i, hit in enumerate(indexed):
        j = where.get(hit.article_id)
        if j is None:  # only at the end, tied with the last article kept
            assert exact[-1].similarity - hit.similarity < CLOSE
            continue
        assert j == i or abs(exact[j].similarity - exact[i].similarity) < CLOSE
        assert abs(exact[j].similarity - hit.similarity) < CLOSE
        if (hit.start_char, hit.end_char) != (exact[j].start_char, exact[j].end_char):
            # Another chunk of the article, as close to the query.
            assert abs(exact[j].similarity - hit.similarity) < CLOSE


@pytest.mark.parametrize("graph", [False, True], ids=["scan", "graph"])
def test_index_search_returns_what_exact_search_does(indexed, spy, monkeypatch, graph):
    if graph:  # the HNSW graph rather than a scan of the file's vectors
        monkeypatch.setattr(vectors, "_SCAN_BELOW_ROWS", 0)
    for query in QUERIES:
        exact, through = both(indexed, query)
        assert len(exact) > 50
        assert_same(exact, through)
    assert len(spy) == len(QUERIES)
    # Whole searches agree too: stories, their order, passages.
    prepared = prepare(QUERIES[0], [VectorSource("chunk_embeddings", indexed.embedder)])
    with indexed.warehouse.connect(read_only=True) as db:
        for mode in ("meaning", "hybrid"):
            a = search(db, prepared, mode=mode, options=SearchOptions(vector_index=False))
            b = search(db, prepared, mode=mode, options=SearchOptions(vector_index_min_rows=0))
            assert [(s.story_id, s.best.passage) for s in a.stories] == [
                (s.story_id, s.best.passage) for s in b.stories
            ]


def test_the_graph_rescores_the_nearest_articles_it_found(indexed, spy, monkeypatch):
    """Only the first articles the graph found have every chunk compared with the query (here
    20 for a ranking of 10): they must be the nearest ones, so the ranking is the exact one."""
    monkeypatch.setattr(vectors, "_SCAN_BELOW_ROWS", 0)
    monkeypatch.setattr(vectors, "_RESCORED_PER_ARTICLE", 2)
    for query in QUERIES:
        exact, through = both(indexed, query, depth=10)
        assert len(exact) == 10
        assert_same(exact, through)
    assert spy


def test_articles_stored_after_the_save_are_found(indexed, spy):
    path, info = index_paths(indexed.settings.warehouse.path)
    before = path.stat().st_mtime_ns
    late = store(
        indexed,
        [
            ("Comet lander touches down", "comet lander comet lander comet touches down " * 8, 0),
            ("Abseits im Pokalfinale", "stürmer pokal finale tor abseits schiedsrichter " * 8, 0),
        ],
    )
    assert path.stat().st_mtime_ns == before  # the index file was not saved again
    assert json.loads(info.read_text())["max_owner"] < min(late)
    for query, aid in [("comet lander touches down", late[0]), ("pokal finale tor", late[1])]:
        exact, through = both(indexed, query)
        assert through[0].article_id == aid
        assert_same(exact, through)
    assert spy


def test_articles_the_index_leaves_out_are_found(make_settings, fake_embedder, spy):
    """Articles not in English are not in the dedup's index; search finds them all the same."""
    from tests.helpers import make_pipeline

    services = make_pipeline(make_settings("[dedup]\nvector_index_min_rows = 0\n"), fake_embedder)
    texts = article_texts(per_subject=4)
    store(services, [(t, x, d) for _, t, x, d in texts])
    german = store(
        services,
        [("Raketenstart verschoben", "rakete start mond station verschoben wetter " * 10, 1)],
        lang="de",
    )
    store(services, [(t + " again", x, d) for _, t, x, d in texts[:4]])
    assert services.save_vectors(force=True)
    exact, through = both(services, "rakete start mond station")
    assert through[0].article_id == german[0]
    assert_same(exact, through)
    assert spy


@pytest.mark.parametrize("path", ["scan", "graph", "score-each"])
def test_filters_still_fill_the_ranking(indexed, spy, monkeypatch, path):
    if path == "graph":  # a graph search asked for few chunks first, widened until enough pass
        monkeypatch.setattr(vectors, "_SCAN_BELOW_ROWS", 0)
        monkeypatch.setattr(vectors, "_SCORE_EACH_BELOW", 0)
        monkeypatch.setattr(vectors, "_MIN_K", 4)
        monkeypatch.setattr(vectors, "_GRAPH_K_PER_ARTICLE", 1)
    elif path == "scan":
        monkeypatch.setattr(vectors, "_SCORE_EACH_BELOW", 0)
    with indexed.warehouse.connect(read_only=True) as db:
        space = {
            r[0] for r in db.rows("SELECT article_id FROM article_topics WHERE topic = ?", [TOPIC])
        }
        recent = {
            r[0]
            for r in db.rows(
                "SELECT id FROM articles WHERE coalesce(published_at, fetched_at) >= ?",
                [NOW - timedelta(days=10)],
            )
        }
        aid = max(space)
        db_entities = [aid, min(space), max(recent)]
    with indexed.warehouse.transaction() as db:
        for e in db_entities:
            db.execute(
                "INSERT INTO article_entities (article_id, entity, mentions, first_offset, "
                "evidence) VALUES (?, 'Spacety', 1, 0, '')",
                [e],
            )
    cases = [
        (SearchFilters(topic=TOPIC), space),
        (SearchFilters(since=NOW - timedelta(days=10)), recent),
        (SearchFilters(entity="Spacety"), set(db_entities)),
        (SearchFilters(topic=TOPIC, since=NOW - timedelta(days=10)), space & recent),
    ]
    for filters, passing in cases:
        assert passing
        for depth in (3, 10):
            # The query is about another subject: the articles passing are far down the
            # unfiltered ranking, and must be found all the same.
            exact, through = both(indexed, QUERIES[2], depth=depth, filters=filters)
            assert len(through) == min(depth, len(passing)), filters
            assert {h.article_id for h in through} <= passing
            assert_same(exact, through)
    assert len(spy) == 2 * len(cases)


@pytest.mark.parametrize("damage", ["corrupt", "other-model", "other-warehouse", "too-few-rows"])
def test_an_index_that_cannot_be_trusted_is_left_for_exact_search(indexed, spy, caplog, damage):
    path, info = index_paths(indexed.settings.warehouse.path)
    min_rows = 0
    described = json.loads(info.read_text())
    if damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        reason = "SHA-256"
    elif damage == "other-model":
        info.write_text(json.dumps({**described, "model": "another/model"}))
        reason = "holds vectors of another/model"
    elif damage == "other-warehouse":
        info.write_text(json.dumps({**described, "max_owner": described["max_owner"] + 1000}))
        reason = "articles the warehouse does not"
    else:
        min_rows = described["rows"] + 1
        reason = "fewer than [dedup] vector_index_min_rows"
    with (
        caplog.at_level(logging.DEBUG, logger="pipeline.search"),
        indexed.warehouse.connect(read_only=True) as db,
    ):
        for query in QUERIES[:3]:
            exact = meaning_ranking(db, probes(indexed, query), vector_index=False)
            got = meaning_ranking(db, probes(indexed, query), vector_index_min_rows=min_rows)
            assert got == exact
    assert not spy
    assert reason in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_file_the_ingest_wrote_is_searched_without_reading_it_whole(indexed, spy, monkeypatch):
    """The first search of a process reads no checksum of the file its description was written
    with (at 1,000,000 articles 6 GB: up to half a minute); a copy put in its place (a file
    restored) is checked by its SHA-256 before it is used."""
    from pipeline.dedup import vectorfile

    hashed: list[Path] = []
    sha256 = vectorfile._file_sha256
    monkeypatch.setattr(vectorfile, "_file_sha256", lambda p: hashed.append(p) or sha256(p))
    store(indexed, [("Comet lander touches down", "comet lander touches down " * 8, 0)])
    assert indexed.save_vectors(force=True)
    hashed.clear()
    savedindex.forget_mapped()
    exact, through = both(indexed, QUERIES[0])
    assert_same(exact, through)
    assert len(spy) == 1 and hashed == []
    path, _ = index_paths(indexed.settings.warehouse.path)
    restored = path.with_name("restored.usearch")
    shutil.copy2(path, restored)
    restored.replace(path)
    savedindex.forget_mapped()
    exact, through = both(indexed, QUERIES[0])
    assert_same(exact, through)
    assert len(spy) == 2 and hashed == [path]


def test_a_missing_index_and_a_replaced_one(indexed, spy, caplog):
    path, info = index_paths(indexed.settings.warehouse.path)
    moved = path.with_name("elsewhere.usearch")
    path.rename(moved)
    with caplog.at_level(logging.DEBUG, logger="pipeline.search"):
        exact, got = both(indexed, QUERIES[0])
    assert got == exact and not spy and "no saved chunk vector index" in caplog.text
    moved.rename(path)
    both(indexed, QUERIES[0])
    assert len(spy) == 1
    # The ingest saves again (a rename over the file): the file mapped before answers while the
    # new one is read in the background (what was stored since is scored exactly), then the new.
    late = store(indexed, [("Comet lander touches down", "comet lander touches down " * 8, 0)])
    assert indexed.save_vectors(force=True)
    assert json.loads(info.read_text())["max_owner"] == late[0]
    for _ in range(2):
        exact, through = both(indexed, "comet lander")
        assert through[0].article_id == late[0]
        assert_same(exact, through)
        savedindex.settle()
    assert len(spy) == 3
    with indexed.warehouse.connect(read_only=True) as db:
        saved = savedindex.saved_chunks(db, indexed.embedder.model_name, 0)
    assert saved is not None and saved.max_owner == late[0]


def test_saved_searches_match_new_articles_as_before(indexed, tmp_path, spy):
    """Alert conditions score the few new articles exactly, whatever index is saved."""
    searches = tmp_path / "searches.toml"
    searches.write_text(
        '[[searches]]\nname = "moon"\nquery = "lunar lander mission"\nmatch = "meaning"\n'
        "min_similarity = 0.3\n",
        encoding="utf-8",
    )
    from pipeline.config.settings import with_overrides

    settings = with_overrides(indexed.settings, search={"file": searches})
    late = store(
        indexed,
        [
            ("Lander mission", "lunar lander mission probe orbit " * 10, 0),
            ("Bond market", "bond market dividend investor shares " * 10, 0),
        ],
    )
    saved = SavedSearches(settings.search, indexed.embedder, indexed.warehouse)
    assert saved.match_saved("moon", late) == {late[0]}
    assert not spy


def test_a_search_compares_the_query_with_the_file_before_it_opens_the_warehouse(
    indexed, monkeypatch
):
    """A page waiting for a batch to be written does the file's part of the search meanwhile:
    with it done first, the search holds the warehouse without scanning the file, and finds
    the same."""
    options = SearchOptions(vector_index_min_rows=0)
    source = [VectorSource("chunk_embeddings", indexed.embedder)]
    path = Path(indexed.settings.warehouse.path)
    scans: list[int] = []
    nearest = vectors._nearest_owners

    def counted(*args, **kwargs):
        scans.append(1)
        return nearest(*args, **kwargs)

    monkeypatch.setattr(vectors, "_nearest_owners", counted)
    for query in QUERIES[:3]:
        plain = prepare(query, source)
        ahead = look_ahead(plain, path, SearchFilters(), options)
        assert len(scans) == 1 and ahead.probes[0].ahead is not None
        with indexed.warehouse.connect(read_only=True) as db:
            got = search(db, ahead, options=options)
            assert len(scans) == 1  # the warehouse was held without a scan of the file
            want = search(db, plain, options=options)
        assert [(s.story_id, s.best.passage) for s in got.stories] == [
            (s.story_id, s.best.passage) for s in want.stories
        ]
        scans.clear()
    # A filter decides how many chunks are asked for: nothing is looked up ahead then.
    filtered = look_ahead(plain, path, SearchFilters(topic=TOPIC), options)
    assert filtered.probes[0].ahead is None and not scans


def test_articles_stored_since_the_save_are_read_once_between_searches(indexed, monkeypatch):
    """A page server keeps what it read of the articles stored since the file was saved: each
    search reads only the articles stored since the one before."""
    read: list[int] = []
    chunk_rows = vectors.vector_store.chunk_rows

    def counted(db, model, **kwargs):
        rows = chunk_rows(db, model, **kwargs)
        if kwargs.get("after") is not None:
            read.append(len(set(rows.article_ids.tolist())))
        return rows

    monkeypatch.setattr(vectors.vector_store, "chunk_rows", counted)
    first = store(indexed, [("Comet lander touches down", "comet lander touches down " * 8, 0)])
    for _ in range(2):
        exact, through = both(indexed, "comet lander")
        assert through[0].article_id == first[0]
        assert_same(exact, through)
    assert read == [1, 0]
    second = store(indexed, [("Abseits im Pokalfinale", "pokal finale tor abseits " * 8, 0)])
    exact, through = both(indexed, "pokal finale tor")
    assert through[0].article_id == second[0] and read[-1] == 1
    assert_same(exact, through)
    # Filters apply to them as to the rest: neither carries the topic.
    _, filtered = both(indexed, "comet lander", filters=SearchFilters(topic=TOPIC))
    assert not {first[0], second[0]} & {h.article_id for h in filtered}
