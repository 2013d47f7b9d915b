"""Settings: layering, validation errors that name file and key, secrets, `newswatch config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config.settings import load_settings, render_settings
from pipeline.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths_resolve_against_the_file(tmp_path, monkeypatch):
    sub = tmp_path / "conf"
    sub.mkdir()
    path = sub / "settings.toml"
    path.write_text('[warehouse]\npath = "data/w.duckdb"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    s = load_settings(path, env={})
    assert s.warehouse.path == (sub / "data" / "w.duckdb").resolve()
    assert s.feeds.file == (sub / "feeds.toml").resolve()
    assert s.http.max_redirects == 5


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "[http]\nconcurency = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    assert str(path) in message and "concurency" in message and "concurrency" in message
    assert "\n" not in message


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[htp\]"):
        load_settings(write(tmp_path, "[htp]\nx = 1\n"), env={})


def test_wrong_type_says_what_is_expected(tmp_path):
    path = write(tmp_path, '[schedule]\npoll_interval_s = "often"\n')
    with pytest.raises(ConfigError, match=r"\[schedule\] poll_interval_s: expected an integer"):
        load_settings(path, env={})


def test_impossible_values_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="out of range; allowed 0 to 5"):
        load_settings(write(tmp_path, "[http]\nmax_redirects = 9\n"), env={})
    with pytest.raises(ConfigError, match="use one of starttls, ssl, none"):
        load_settings(write(tmp_path, '[smtp]\nsecurity = "tls"\n'), env={})
    with pytest.raises(ConfigError, match="IANA time zone"):
        load_settings(write(tmp_path, '[schedule]\ntimezone = "Mars/Olympus"\n'), env={})
    with pytest.raises(ConfigError, match="HH:MM"):
        load_settings(write(tmp_path, '[schedule]\ndigest_time = "25:00"\n'), env={})


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="settings file not found"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[http\n"), env={})


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[schedule]\npoll_interval_s = 60\n")
    s = load_settings(
        path,
        env={
            "NEWSWATCH_SCHEDULE_POLL_INTERVAL_S": "120",
            "NEWSWATCH_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
            "NEWSWATCH_DIGEST_RECIPIENTS": "a@example.org, b@example.org",
            "NEWSWATCH_WAREHOUSE": str(tmp_path / "x.duckdb"),
        },
    )
    assert s.schedule.poll_interval_s == 120
    assert s.http.allow_private_networks is True
    assert s.digest.recipients == ["a@example.org", "b@example.org"]
    assert s.warehouse.path == (tmp_path / "x.duckdb").resolve()


def test_bad_environment_values(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match="NEWSWATCH_HTTP_CONCURRENCY: expected an integer"):
        load_settings(path, env={"NEWSWATCH_HTTP_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match="NEWSWATCH_HTTP_NOPE: unknown setting"):
        load_settings(path, env={"NEWSWATCH_HTTP_NOPE": "1"})


def test_config_from_environment_variable(tmp_path):
    path = write(tmp_path, "[ingest]\nbatch_size = 7\n")
    assert load_settings(env={"NEWSWATCH_CONFIG": str(path)}).ingest.batch_size == 7


def test_secrets_only_from_environment(tmp_path):
    with pytest.raises(ConfigError, match="NEWSWATCH_SMTP_PASSWORD"):
        load_settings(write(tmp_path, '[smtp]\npassword = "hunter2"\n'), env={})
    s = load_settings(
        write(tmp_path, '[smtp]\nhost = "mail.example.org"\n'),
        env={"NEWSWATCH_SMTP_PASSWORD": "hunter2"},
    )
    assert s.smtp.password == "hunter2"
    rendered = render_settings(s)
    assert "hunter2" not in rendered and "********" in rendered


def test_config_command_prints_effective_settings_masked(tmp_path, monkeypatch):
    path = write(tmp_path, "[http]\nconcurrency = 3\n")
    monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "s3cret")
    result = CliRunner().invoke(cli, ["--config", str(path), "config"])
    assert result.exit_code == 0, result.output
    assert "concurrency = 3" in result.output
    assert "s3cret" not in result.output


def test_bad_settings_exit_nonzero_with_one_line(tmp_path):
    path = write(tmp_path, "[http]\nconcurency = 3\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "config"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "concurency" in result.output and "Traceback" not in result.output


def test_shipped_settings_file_is_valid():
    from tests.conftest import REPO

    s = load_settings(REPO / "config" / "settings.toml", env={})
    assert s.warehouse.path == (REPO / "warehouse" / "newswatch.duckdb").resolve()
