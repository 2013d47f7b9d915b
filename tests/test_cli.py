"""The command line: every command has help, sql is read-only, errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.store.db import Warehouse


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,)
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


def test_every_command_has_help():
    runner = CliRunner()
    commands = list(all_commands(cli))
    assert {("init",), ("sql",), ("status",), ("config",)} <= set(commands)
    for path in [()] + commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_python_dash_m_runs():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "newswatch" in out.stdout


@pytest.fixture
def warehouse_with_rows(make_settings):
    settings = make_settings()
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    with wh.transaction() as db:
        db.execute("INSERT INTO runs (job, started_at, status) VALUES ('test', now(), 'ok')")
    return settings


def invoke(settings, *args):
    return CliRunner().invoke(cli, ["--config", settings.source, *args])


def test_sql_refuses_writes_with_a_clear_message(warehouse_with_rows):
    for query in ("DELETE FROM runs", "DROP TABLE runs", "SELECT 1; DELETE FROM runs",
                  "INSERT INTO runs (job, started_at, status) VALUES ('x', now(), 'ok')"):
        result = invoke(warehouse_with_rows, "sql", query)
        assert result.exit_code != 0
        assert "read-only" in result.output and "Traceback" not in result.output
    assert json.loads(invoke(warehouse_with_rows, "sql", "SELECT count(*) AS n FROM runs",
                             "--format", "json").output) == [{"n": 1}]


def test_sql_formats(warehouse_with_rows):
    csv_out = invoke(warehouse_with_rows, "sql", "SELECT job, status FROM runs", "--format", "csv")
    assert csv_out.output.splitlines() == ["job,status", "test,ok"]
    table = invoke(warehouse_with_rows, "sql", "SELECT job, status FROM runs")
    assert "test" in table.output and "status" in table.output


def test_sql_error_is_one_line(warehouse_with_rows):
    result = invoke(warehouse_with_rows, "sql", "SELECT nope FROM runs")
    assert result.exit_code != 0 and "query failed" in result.output
    assert "Traceback" not in result.output


def test_commands_on_missing_warehouse_say_run_init(make_settings):
    settings = make_settings()
    result = invoke(settings, "sql", "SELECT 1")
    assert result.exit_code != 0 and "newswatch init" in result.output


def test_status_counts_tables(warehouse_with_rows):
    result = invoke(warehouse_with_rows, "status")
    assert result.exit_code == 0, result.output
    assert "runs" in result.output and "articles" in result.output
