"""The warehouse: migrations, idempotent init, the public tables and views, busy files."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pipeline.errors import WarehouseBusyError, WarehouseError
from pipeline.store.db import Warehouse
from pipeline.store.schema import load_migrations
from pipeline.store.sqlvalues import id_match

CONTRACT = {
    "articles": {
        "id",
        "source",
        "feed_id",
        "url",
        "canonical_url",
        "guid",
        "title",
        "author",
        "published_at",
        "fetched_at",
        "lang",
        "text",
        "text_source",
        "content_hash",
        "duplicate_of",
        "duplicate_similarity",
        "story_id",
        "relevance",
    },
    "article_topics": {"article_id", "topic", "score", "evidence"},
    "embeddings": {"article_id", "model", "vector"},
    "feeds": {
        "id",
        "url",
        "title",
        "etag",
        "last_modified",
        "last_polled_at",
        "next_poll_at",
        "error_count",
        "last_error",
        "last_status",
    },
    "feed_polls": {
        "feed_id",
        "polled_at",
        "status",
        "http_status",
        "bytes",
        "new_entries",
        "error_kind",
        "error_message",
    },
    "runs": {"job", "started_at", "finished_at", "status", "counts", "error"},
    "digests": {"week", "status"},
}


def test_migrations_are_ordered_and_named():
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert all(m.name for m in migrations)


def test_migrate_creates_contract_and_is_idempotent(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    first = wh.migrate()
    assert first == [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    assert wh.migrate() == []
    with wh.connect(read_only=True) as db:
        for table, columns in CONTRACT.items():
            have = {
                r[0]
                for r in db.rows(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [table],
                )
            }
            assert columns <= have, (table, columns - have)
        views = {
            r[0]
            for r in db.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'"
            )
        }
        assert {"relevant_articles", "weekly_topic_counts"} <= views
        recorded = db.rows("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [v for v, _ in recorded] == [m.version for m in load_migrations()]
    wh.check_current()


def test_not_null_and_keys_are_enforced(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    with pytest.raises(Exception, match="NOT NULL"), wh.transaction() as db:
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text_source, "
            "content_hash, word_count) VALUES (1, 'feed', 'u', 't', now(), 'page', "
            "'h', 1)"
        )
    with pytest.raises(Exception, match="CHECK|Constraint"), wh.transaction() as db:
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text, "
            "text_source, content_hash, word_count) VALUES (1, 'blog', 'u', 't', "
            "now(), 'x', 'page', 'h', 1)"
        )
    with wh.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM articles") == 0


BATCH_TABLES = (
    "articles",
    "embeddings",
    "chunk_embeddings",
    "lead_embeddings",
    "article_topics",
    "article_entities",
    "search_docs",
)


def test_upgrade_keeps_stored_articles_and_leaves_batch_tables_without_indexes(
    tmp_path, monkeypatch
):
    # A warehouse written before 0013 (keys on the tables every batch appends to) is upgraded
    # in place: rows, defaults, checks and views survive; the keys and indexes are gone, so a
    # batch's close no longer rewrites them.
    wh = Warehouse(tmp_path / "w.duckdb")
    shipped = load_migrations()
    monkeypatch.setattr(
        "pipeline.store.schema.load_migrations", lambda: [m for m in shipped if m.version < 13]
    )
    wh.migrate()
    with wh.transaction() as db:
        db.execute(
            "INSERT INTO articles (id, source, url, canonical_url, title, fetched_at, text, "
            "text_source, content_hash, word_count, story_evidence, archive_source) VALUES "
            "(1, 'feed', 'https://a.example/1', 'https://a.example/1', 'One', now(), 'text one', "
            "'page', 'h1', 2, '{}', NULL), (2, 'seed', 'seed:2', NULL, 'Two', now(), "
            "'text two', 'file', 'h2', 2, NULL, 'x.warc')"
        )
        db.execute(
            "INSERT INTO embeddings VALUES (1, 'm', 2, 1, [0.6, 0.8], [1.0, 0.0]), "
            "(2, 'm', 2, 1, [1.0, 0.0], NULL)"
        )
        db.execute("INSERT INTO chunk_embeddings VALUES (1, 0, 0, 8, 'm', [0.6, 0.8])")
        db.execute("INSERT INTO lead_embeddings VALUES (1, 'e5', 'en', [0.0, 1.0])")
        db.execute("INSERT INTO article_topics VALUES (1, 'sanctions', 0.7, '{}', ['x'], 'p')")
        db.execute("INSERT INTO article_entities VALUES (1, 'Spacety', 2, 0, 'ev', ['Spacety'])")
        db.execute("INSERT INTO search_docs VALUES (1, 12, 'v1', FALSE)")
        before = {t: db.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in BATCH_TABLES}
    monkeypatch.undo()
    assert wh.migrate() == ["0013_batch_tables_without_indexes", "0014_search_positions"]
    with wh.connect(read_only=True) as db:
        assert {t: db.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in BATCH_TABLES} == before
        assert db.scalar("SELECT count(*) FROM relevant_articles") >= 0  # views still bind
        assert (
            db.rows(
                "SELECT table_name FROM duckdb_indexes() WHERE table_name IN ?",
                [list(BATCH_TABLES)],
            )
            == []
        )
        assert (
            db.rows(
                "SELECT table_name, constraint_type FROM duckdb_constraints() "
                "WHERE table_name IN ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
                [list(BATCH_TABLES)],
            )
            == []
        )
    with wh.transaction() as db:  # defaults still fill what a batch leaves out
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text, text_source, "
            "content_hash, word_count) VALUES (3, 'feed', 'u', 't', now(), 'x', 'page', 'h', 1)"
        )
        assert db.one("SELECT relevance, on_topic FROM articles WHERE id = 3") == (0.0, True)
    with pytest.raises(Exception, match="CHECK|Constraint"), wh.transaction() as db:
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text, text_source, "
            "content_hash, word_count) VALUES (4, 'blog', 'u', 't', now(), 'x', 'page', 'h', 1)"
        )


def test_read_only_open_of_missing_warehouse_says_run_init(tmp_path):
    with (
        pytest.raises(WarehouseError, match="newswatch init"),
        Warehouse(tmp_path / "none.duckdb").connect(read_only=True),
    ):
        pass


def test_writer_waits_for_a_reader_then_gives_up_clearly(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse(path).migrate()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}, read_only=True)
        print("ready", flush=True)
        sys.stdin.readline()
    """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        waits = []
        wh = Warehouse(path, busy_timeout_s=0.5, on_busy=lambda who, s: waits.append(who))
        with pytest.raises(WarehouseBusyError, match="locked by"), wh.transaction():
            pass
        assert waits and "PID" in waits[0]
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
        holder.stdin.close()
        holder.stdout.close()
    with Warehouse(path).transaction() as db:  # free again
        db.execute("SELECT 1")


def test_id_match_selects_exactly_the_ids_asked_near_or_far_apart(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.connect() as db:
        db.execute("CREATE TABLE t AS SELECT range AS id FROM range(1, 20001)")
        db.execute("INSERT INTO t SELECT range FROM range(20001, 1000001, 7)")
        spread = list(range(3, 1000000, 2503))  # 400 ids far apart: 64 ranges hold them
        for ids in ([5], [7, 7, 8, 4000, 4001, 19999], list(range(100, 20000, 997)), [30000], []):
            got = {r[0] for r in db.rows(f"SELECT id FROM t WHERE {id_match('id', ids)}")}
            assert got == {i for i in ids if i <= 20000}
        condition = id_match("id", spread)
        assert condition.count("BETWEEN") == 64
        got = {r[0] for r in db.rows(f"SELECT id FROM t WHERE {condition}")}
        assert got == {i for i in spread if i <= 20000 or (i - 20001) % 7 == 0}
