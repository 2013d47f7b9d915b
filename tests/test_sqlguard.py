"""What `newswatch sql` lets through (pipeline/sql/guard.py), judged on the statement types
DuckDB's own parser gives, and the one line it says when it refuses or a query fails. (The
command end to end, and the sandboxed connection behind the guard: test_sql.py.)"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.errors import ReadOnlyQueryError
from pipeline.sql.guard import check_read_only, describe_failure


def types(sql: str) -> list[str]:
    """The statement types of `sql`, as the warehouse reads them (Db.statement_types)."""
    return [s.type.name for s in duckdb.connect().extract_statements(sql)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM articles",
        "WITH recent AS (SELECT * FROM articles) SELECT title FROM recent",
        "FROM articles LIMIT 3",
        "EXPLAIN SELECT * FROM articles",
        "DESCRIBE articles",
        "SHOW TABLES",
        "SUMMARIZE articles",
        "PRAGMA table_info('articles')",
        "PRAGMA show_tables",
        "SELECT 1; SELECT 2",
    ],
)
def test_queries_and_reading_pragmas_pass(sql):
    check_read_only(types(sql))


@pytest.mark.parametrize(
    "sql, named",
    [
        ("INSERT INTO runs VALUES (1)", "INSERT"),
        ("UPDATE articles SET title = 'x'", "UPDATE"),
        ("DELETE FROM articles", "DELETE"),
        ("DROP TABLE articles", "DROP"),
        ("CREATE TABLE mine AS SELECT 1", "CREATE"),
        ("ALTER TABLE articles ADD COLUMN x INT", "ALTER"),
        ("ATTACH 'other.duckdb'", "ATTACH"),
        ("SET threads = 1", "SET"),
        ("LOAD httpfs", "LOAD and INSTALL"),
        ("INSTALL httpfs", "LOAD and INSTALL"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CHECKPOINT", "CALL"),
        ("BEGIN TRANSACTION", "TRANSACTION"),
        # A write hidden after a query is refused too.
        ("SELECT 1; DELETE FROM articles", "DELETE"),
    ],
)
def test_statements_that_write_or_change_the_session_are_refused_by_name(sql, named):
    with pytest.raises(ReadOnlyQueryError) as refused:
        check_read_only(types(sql))
    message = str(refused.value)
    assert message.startswith("`newswatch sql` is read-only:")
    assert f"{named} statements are refused (allowed: EXPLAIN, SELECT)" in message
    assert "\n" not in message


@pytest.mark.parametrize("sql", ["COPY articles TO 'out.csv'", "EXPORT DATABASE 'dump'"])
def test_copy_and_export_point_to_output(sql):
    with pytest.raises(ReadOnlyQueryError, match=r"--output FILE`$"):
        check_read_only(types(sql))


def test_an_empty_query_is_refused():
    with pytest.raises(ReadOnlyQueryError, match="no SQL statement given"):
        check_read_only(types("  ;  "))


def test_a_failure_is_one_line_and_the_sandbox_is_named():
    with pytest.raises(duckdb.Error) as failed:
        duckdb.connect().execute("SELECT nope FROM (SELECT 1 AS one)")
    line = describe_failure(failed.value)
    assert "nope" in line and "\n" not in line and line == str(failed.value).splitlines()[0]
    sandboxed = duckdb.connect(config={"enable_external_access": False})
    with pytest.raises(duckdb.Error) as refused:
        sandboxed.execute("SELECT * FROM read_text('/etc/hostname')")
    assert describe_failure(refused.value).endswith(
        "(`newswatch sql` reads the warehouse only; to export a result use --output FILE)"
    )
    assert describe_failure(RuntimeError()) == "RuntimeError()"
