"""`newswatch sql`: read-only down to the file system, exports with --output, stops on a signal."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.store.db import Warehouse
from tests.conftest import REPO

SECRET = "s3cr3t-do-not-print"


@pytest.fixture
def settings(warehouse_with_rows):
    """Settings whose warehouse is migrated and holds one run."""
    return warehouse_with_rows


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A file outside the warehouse that no query may read."""
    folder = tmp_path / "private"
    folder.mkdir()
    # The name carries the secret too: a directory listing must not show it either.
    path = folder / f"{SECRET}-name.csv"
    path.write_text(f"token\n{SECRET}\n", encoding="utf-8")
    return path


def invoke(settings, *args):
    return CliRunner().invoke(cli, ["--config", settings.source, *args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_refusal(result) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newswatch: error: "), result.stderr
    assert result.stdout == ""


# --- statements ----------------------------------------------------------------------------------


def test_sql_refuses_writes_with_a_clear_message(settings):
    for query in (
        "DELETE FROM runs",
        "DROP TABLE runs",
        "SELECT 1; DELETE FROM runs",
        "INSERT INTO runs (job, started_at, status) VALUES ('x', now(), 'ok')",
    ):
        result = invoke(settings, "sql", query)
        assert result.exit_code != 0
        assert "read-only" in result.output and "Traceback" not in result.output
    assert json.loads(
        invoke(settings, "sql", "SELECT count(*) AS n FROM runs", "--format", "json").output
    ) == [{"n": 1}]


def test_sql_formats(settings):
    csv_out = invoke(settings, "sql", "SELECT job, status FROM runs", "--format", "csv")
    assert csv_out.output.splitlines() == ["job,status", "test,ok"]
    table = invoke(settings, "sql", "SELECT job, status FROM runs")
    assert "test" in table.output and "status" in table.output


def test_sql_error_is_one_line(settings):
    result = invoke(settings, "sql", "SELECT nope FROM runs")
    assert result.exit_code != 0 and "query failed" in result.output
    assert "Traceback" not in result.output


def test_reading_pragmas_still_work(settings):
    result = invoke(settings, "sql", "PRAGMA table_info('runs')", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "job" in {row["name"] for row in json.loads(result.stdout)}


@pytest.mark.parametrize("target", ["warehouse", "csv"])
def test_copy_is_refused_and_writes_nothing(settings, tmp_path, target):
    warehouse = Path(settings.warehouse.path)
    dest = warehouse if target == "warehouse" else tmp_path / "out.csv"
    before = sha256(warehouse)
    result = invoke(settings, "sql", f"COPY (SELECT 1) TO '{dest}'")
    assert_one_line_refusal(result)
    assert "--output" in result.stderr
    assert sha256(warehouse) == before
    assert not (tmp_path / "out.csv").exists()


def test_statements_that_reach_files_or_settings_are_refused(settings, secret_file, tmp_path):
    other = tmp_path / "other.duckdb"
    Warehouse(other).migrate()
    queries = [
        f"COPY runs TO '{tmp_path / 'runs.csv'}'",
        f"COPY runs FROM '{secret_file}'",
        f"EXPORT DATABASE '{tmp_path / 'dump'}'",
        f"ATTACH '{other}' AS other",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
    ]
    for query in queries:
        result = invoke(settings, "sql", query)
        assert_one_line_refusal(result)
        assert SECRET not in result.output.replace(str(secret_file), ""), query
    assert not (tmp_path / "runs.csv").exists() and not (tmp_path / "dump").exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_blob('{secret}')",
        "SELECT * FROM sniff_csv('{secret}')",
        "SELECT * FROM glob('{folder}/*')",
        "SELECT * FROM '{secret}'",
    ],
)
def test_sql_reads_no_file_but_the_warehouse(settings, secret_file, query):
    text = query.format(secret=secret_file, folder=secret_file.parent)
    result = invoke(settings, "sql", text)
    assert_one_line_refusal(result)
    assert SECRET not in result.output.replace(str(secret_file), "")
    assert "warehouse only" in result.stderr or "does not exist" in result.stderr


def test_the_sandbox_holds_without_the_statement_check(settings, secret_file, tmp_path):
    # The connection itself refuses what sqlguard would refuse first.
    attempts = [
        f"ATTACH '{tmp_path / 'new.duckdb'}' AS new",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET TimeZone = 'Europe/Paris'",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
        f"SELECT * FROM read_text('{secret_file}')",
    ]
    wh = Warehouse(settings.warehouse.path)
    with wh.query_connection(wait_s=5) as db:
        for sql in attempts:
            with pytest.raises(Exception) as caught:
                db.rows(sql)
            assert SECRET not in str(caught.value).replace(str(secret_file), "")
        assert db.scalar("SELECT current_setting('TimeZone')") == "UTC"
        assert db.scalar("SELECT count(*) FROM runs") == 1
    assert not (tmp_path / "new.duckdb").exists() and not (tmp_path / "x.csv").exists()


# --- --output ------------------------------------------------------------------------------------

QUERY = "SELECT job, status, [1.5, 2.0]::FLOAT[] AS v, NULL::INTEGER AS n FROM runs"


def export(settings, dest: Path, *extra: str, query: str = QUERY):
    return invoke(settings, "sql", query, "--output", str(dest), *extra)


def test_output_csv(settings, tmp_path):
    dest = tmp_path / "out.csv"
    result = export(settings, dest)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"1 row written to {dest}"
    with dest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"job": "test", "status": "ok", "v": "[1.5, 2.0]", "n": ""}]


def test_output_json(settings, tmp_path):
    dest = tmp_path / "out.json"
    assert export(settings, dest).exit_code == 0
    assert json.loads(dest.read_text(encoding="utf-8")) == [
        {"job": "test", "status": "ok", "v": [1.5, 2.0], "n": None}
    ]
    stdout_json = invoke(settings, "sql", QUERY, "--format", "json").stdout
    assert json.loads(stdout_json) == json.loads(dest.read_text(encoding="utf-8"))


def test_output_parquet(settings, tmp_path):
    import pyarrow.parquet as pq

    dest = tmp_path / "out.parquet"
    assert export(settings, dest).exit_code == 0
    assert pq.read_table(dest).to_pylist() == [
        {"job": "test", "status": "ok", "v": [1.5, 2.0], "n": None}
    ]


def test_output_never_writes_the_warehouse_or_its_files(settings, tmp_path):
    warehouse = Path(settings.warehouse.path)
    before = sha256(warehouse)
    link = tmp_path / "link.csv"
    link.symlink_to(warehouse)
    targets = [
        warehouse,
        link,
        warehouse.with_name(warehouse.name + ".wal"),
        warehouse.with_name(warehouse.name + ".job.lock"),
        warehouse.with_name(warehouse.name + ".daemon.json"),
        warehouse.parent / ".." / warehouse.parent.name / warehouse.name,
    ]
    for dest in targets:
        result = export(settings, dest, "--force")
        assert_one_line_refusal(result)
        assert "warehouse" in result.stderr, dest
    assert sha256(warehouse) == before
    assert link.is_symlink()
    assert sorted(p.name for p in warehouse.parent.iterdir()) == [warehouse.name]


def test_output_never_writes_the_files_newswatch_keeps_beside_the_warehouse(settings, tmp_path):
    from pipeline.embed.factory import model_cache_dir

    warehouse = Path(settings.warehouse.path)
    vectors = warehouse.with_name(warehouse.name + ".vectors.json")
    vectors.write_text('{"format": 1}', encoding="utf-8")
    cache = model_cache_dir(settings)
    outbox = Path(settings.digest.outbox)
    outbox.mkdir(parents=True, exist_ok=True)
    kept = {
        vectors: vectors.read_bytes(),
        cache / "graph.json": b"{}",
        outbox / "newswatch-digest-2026-W47.json": b"[]",
    }
    for path, data in kept.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    link = tmp_path / "vectors-link.json"
    link.symlink_to(vectors)
    hard = tmp_path / "vectors-hard.json"
    os.link(vectors, hard)
    targets = [
        vectors,
        warehouse.with_name(warehouse.name + ".vectors.usearch"),
        warehouse.with_name(warehouse.name + ".writer-waiting"),
        warehouse.with_name(warehouse.name + ".texts.sqlite"),
        link,
        hard,
        cache / "graph.json",
        cache / "new.parquet",
        outbox / "newswatch-digest-2026-W47.json",
        outbox / "result.csv",
    ]
    for dest in targets:
        result = export(settings, dest, "--force")
        assert_one_line_refusal(result)
        assert "keeps" in result.stderr, (dest, result.stderr)
    assert all(path.read_bytes() == data for path, data in kept.items())
    assert not warehouse.with_name(warehouse.name + ".vectors.usearch").exists()
    assert not warehouse.with_name(warehouse.name + ".texts.sqlite").exists()
    assert not (cache / "new.parquet").exists() and not (outbox / "result.csv").exists()


def test_output_replaces_a_file_only_with_force(settings, tmp_path):
    dest = tmp_path / "out.csv"
    dest.write_text("keep me\n", encoding="utf-8")
    refused = export(settings, dest)
    assert_one_line_refusal(refused)
    assert "--force" in refused.stderr and dest.read_text(encoding="utf-8") == "keep me\n"
    done = export(settings, dest, "--force")
    assert done.exit_code == 0, done.output
    assert dest.read_text(encoding="utf-8").startswith('"job","status"')


def test_output_unknown_extension_is_a_usage_error(settings, tmp_path):
    result = export(settings, tmp_path / "out.xlsx")
    assert result.exit_code == 2
    assert all(ext in result.output for ext in (".csv", ".json", ".parquet"))
    assert not (tmp_path / "out.xlsx").exists()


def test_failed_query_leaves_no_file(settings, tmp_path):
    result = export(settings, tmp_path / "out.parquet", query="SELECT nope FROM runs")
    assert_one_line_refusal(result)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("out", ".out"))]


# --- signals -------------------------------------------------------------------------------------

_LOCK_LINE = re.compile(r"\b(?:POSIX|FLOCK|OFDLCK)\s+\S+\s+\S+\s+(\d+)\s")


def _wait_until_running(proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Return once the process holds the warehouse (its query is about to run, or runs)."""
    locks = Path("/proc/locks")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"newswatch sql ended early: {proc.returncode} {proc.communicate()}")
        if not locks.exists():
            time.sleep(1.5)  # no way to look: give it the time it usually needs
            return
        holders = {int(m[1]) for m in _LOCK_LINE.finditer(locks.read_text())}
        if proc.pid in holders:
            time.sleep(0.5)  # from the lock to the running statement: milliseconds
            return
        time.sleep(0.05)
    pytest.fail("newswatch sql did not open the warehouse in time")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_long_query(settings, signum):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--config",
            settings.source,
            "sql",
            "select sum(range) from range(1000000000000)",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background by a shell inherits SIGINT
        # ignored, and newswatch rightly leaves an ignored signal ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _wait_until_running(proc)
        proc.send_signal(signum)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"newswatch sql kept running after {signum.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [f"newswatch: query interrupted ({signum.name})"]
    # The warehouse is free again.
    with Warehouse(settings.warehouse.path).connect(wait_s=5) as db:
        assert db.scalar("SELECT count(*) FROM runs") == 1
