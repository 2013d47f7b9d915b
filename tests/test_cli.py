"""The command line: every command has help, errors are one line (`sql`: test_sql.py)."""

from __future__ import annotations

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


def test_commands_on_missing_warehouse_say_run_init(make_settings):
    settings = make_settings()
    result = invoke(settings, "sql", "SELECT 1")
    assert result.exit_code != 0 and "newswatch init" in result.output


def test_status_counts_tables(warehouse_with_rows):
    result = invoke(warehouse_with_rows, "status")
    assert result.exit_code == 0, result.output
    assert "runs" in result.output and "articles" in result.output
