"""The command line: every command has help, errors are one line (`sql`: test_sql.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from pipeline.cli import cli


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
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "newswatch" in out.stdout


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


def test_feeds_list_shows_a_private_address_exemption(make_settings):
    settings = make_settings()
    Path(settings.feeds.file).write_text(
        '[[feeds]]\nurl = "http://127.0.0.1:9/intranet.xml"\nallow_private = true\n\n'
        '[[feeds]]\nurl = "https://example.org/feed.xml"\n',
        encoding="utf-8",
    )
    result = invoke(settings, "feeds", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["url"]: r for r in json.loads(result.output)}
    assert rows["http://127.0.0.1:9/intranet.xml"]["allow_private"] is True
    assert rows["https://example.org/feed.xml"]["allow_private"] is False
    table = invoke(settings, "feeds", "list")
    assert "allow_private" in table.output


def test_sql_json_prints_uuids_times_and_intervals(warehouse_with_rows):
    result = invoke(
        warehouse_with_rows,
        "sql",
        "select uuid() as u, time '10:00' as t, interval 3 hours as i",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)[0]
    assert len(row["u"]) == 36 and row["t"] == "10:00:00" and row["i"] == "3:00:00"
