"""Jobs and daemon pieces that need no running scheduler: maintenance, digest timing, reload,
start-up outside the write lock, failed and abandoned runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.app.daemon import Daemon, digest_overdue
from pipeline.app.jobs import ingest_job, maintenance_job, rebuild_job, retag_job, verify_job
from pipeline.cli import cli
from pipeline.config.settings import with_overrides
from pipeline.errors import ConfigError
from pipeline.store.db import Warehouse
from tests.conftest import REPO
from tests.helpers import child_env


def test_maintenance_prunes_old_polls_and_records_a_run(make_settings):
    settings = make_settings("[schedule]\npoll_retention_days = 30\n")
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    now = datetime.now(UTC)
    with wh.transaction() as db:
        db.execute("INSERT INTO feeds (url, config_url) VALUES ('http://a', 'http://a')")
        for days in (1, 10, 40, 100):
            db.execute(
                "INSERT INTO feed_polls (feed_id, polled_at, status) VALUES (1, ?, 'ok')",
                [now - timedelta(days=days)],
            )
    result = maintenance_job(settings, wh, now=now)
    assert result.status == "ok" and result.counts["polls_pruned"] == 2
    with wh.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM feed_polls") == 2
        assert db.rows("SELECT job, status FROM runs") == [("maintenance", "ok")]


def test_digest_overdue_follows_day_time_and_zone(make_settings):
    s = make_settings(
        '[schedule]\ndigest_day = "mon"\ndigest_time = "08:00"\ntimezone = "Europe/Berlin"\n'
    )
    monday_early = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 07:30 in Berlin
    monday_late = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert not digest_overdue(s, monday_early)
    assert digest_overdue(s, monday_late)
    assert digest_overdue(s, datetime(2026, 11, 26, 12, tzinfo=UTC))


def test_reload_applies_valid_settings_and_keeps_the_old_on_error(make_settings):
    settings = make_settings()
    state = {"next": with_overrides(settings, schedule={"poll_interval_s": 120})}

    def reload():
        if isinstance(state["next"], Exception):
            raise state["next"]
        return state["next"]

    daemon = Daemon(settings, reload)
    daemon.reload()
    assert daemon.settings.schedule.poll_interval_s == 120
    assert daemon.services.settings.schedule.poll_interval_s == 120
    assert daemon.scheduler.get_job("poll").trigger.interval.total_seconds() == 120
    state["next"] = ConfigError("settings.toml: [http] concurrency: out of range")
    daemon.reload()
    assert daemon.settings.schedule.poll_interval_s == 120  # kept


class _WriteSpy:
    """Wraps an embedder's methods to note any call made while the warehouse is open to write."""

    def __init__(self, embedder, warehouse) -> None:
        self.calls: list[str] = []
        self.while_writing: list[str] = []
        for name in ("_load", "encode", "embed", "spans"):
            original = getattr(embedder, name)

            def spy(*args, _name=name, _original=original, **kwargs):
                self.calls.append(_name)
                if warehouse.writing:
                    self.while_writing.append(_name)
                return _original(*args, **kwargs)

            setattr(embedder, name, spy)


@pytest.mark.model
def test_the_model_never_loads_or_runs_while_the_warehouse_is_open_to_write(
    make_settings, loopback, tmp_path, model_cache
):
    from pipeline.embed.english import Embedder
    from pipeline.testkit.server import rss
    from tests.helpers import article_page, paragraphs, write_feeds

    topics = tmp_path / "topics.toml"
    shutil.copy(REPO / "config" / "topics.toml", topics)
    settings = make_settings(f'[topics]\nfile = "{topics}"\n')
    loopback.route(
        "/a.html", article_page("Sanctions on a satellite firm", paragraphs("Treasury sanctions"))
    )
    loopback.route(
        "/feed.xml",
        rss(
            [
                {
                    "title": "Sanctions on a satellite firm",
                    "link": loopback.url("/a.html"),
                    "guid": "a",
                    "description": "Teaser.",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    write_feeds(settings, [loopback.url("/feed.xml")])
    daemon = Daemon(settings, lambda: settings)
    embedder = Embedder(cache_dir=model_cache)  # a fresh one: its model load must be seen too
    spy = _WriteSpy(embedder, daemon.warehouse)
    daemon.services.embedder = embedder
    daemon.prepare()  # migrate, seeds, model, index, tagger
    assert ingest_job(daemon.services).status == "ok"
    topics.write_text(topics.read_text() + "\n", encoding="utf-8")  # the tagger is rebuilt
    os.utime(topics, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert ingest_job(daemon.services, feeds=[loopback.url("/feed.xml")]).status == "ok"
    assert {"_load", "embed", "encode"} <= set(spy.calls)
    assert spy.while_writing == []


def test_a_missing_feeds_file_fails_the_cycle_loudly_and_shows_in_status(
    make_settings, fake_embedder, caplog
):
    from pipeline.ingest import Services

    settings = make_settings()
    Path(settings.feeds.file).unlink()
    services = Services(settings, embedder=fake_embedder)
    services.warehouse.migrate()
    with caplog.at_level("INFO"):
        result = ingest_job(services)
    assert result.status == "error" and "feeds file not found" in result.error
    assert any(
        r.levelname == "ERROR" and "feeds file not found" in r.getMessage() for r in caplog.records
    )
    out = CliRunner().invoke(cli, ["--config", settings.source, "status"])
    assert out.exit_code == 0 and "configuration error" in out.output
    assert "feeds file not found" in out.output

    allowed = with_overrides(settings, feeds={"allow_missing": True})
    assert ingest_job(Services(allowed, embedder=fake_embedder)).status == "ok"


def test_an_invalid_feeds_file_is_an_error_in_the_log_and_in_status(
    make_settings, fake_embedder, caplog
):
    from pipeline.ingest import Services

    settings = make_settings()
    Path(settings.feeds.file).write_text("[[feeds]]\nurl = 42\n", encoding="utf-8")
    services = Services(settings, embedder=fake_embedder)
    services.warehouse.migrate()
    with caplog.at_level("INFO"):
        assert ingest_job(services).status == "error"
    assert any(
        r.levelname == "ERROR" and "url is required" in r.getMessage() for r in caplog.records
    )
    out = CliRunner().invoke(cli, ["--config", settings.source, "status"])
    assert "configuration error" in out.output and "url is required" in out.output
    with services.warehouse.connect(read_only=True) as db:
        assert db.rows("SELECT job, status FROM runs") == [("ingest", "error")]


HOLD_AND_WAIT = """
import sys, time
from pipeline.app.jobs import writer_lock
from pipeline.store.db import Warehouse
with writer_lock(Warehouse(sys.argv[1]), "ingest"):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_killed_job_is_recorded_as_abandoned_at_the_next_start(make_settings, fake_embedder):
    from pipeline.ingest import Services

    settings = make_settings()
    services = Services(settings, embedder=fake_embedder)
    services.warehouse.migrate()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, str(settings.warehouse.path)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout.readline().strip() == "holding"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert ingest_job(services).status == "ok"
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows("SELECT job, status, pid, finished_at IS NULL FROM runs ORDER BY id")
    assert rows[0] == ("ingest", "abandoned", proc.pid, True)
    assert rows[1][:2] == ("ingest", "ok") and len(rows) == 2
    assert ingest_job(services).status == "ok"  # recorded once, not at every start
    with services.warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM runs WHERE status = 'abandoned'") == 1


def test_a_daemon_cycle_does_not_redo_init_work(
    make_settings, fake_embedder, tmp_path, monkeypatch
):
    from pipeline.ingest import Services, upkeep

    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "config" / "seeds", seeds)
    settings = make_settings(f'[seeds]\ndir = "{seeds}"\n')
    services = Services(settings, embedder=fake_embedder)
    services.warehouse.migrate()
    upkeep.sync_seeds(services)
    reads = []
    real_load = upkeep.load_seeds
    monkeypatch.setattr(upkeep, "load_seeds", lambda d: reads.append(d) or real_load(d))
    monkeypatch.setattr(Warehouse, "migrate", lambda self: pytest.fail("migrated in a cycle"))
    assert ingest_job(services).status == "ok"
    assert ingest_job(services).status == "ok"
    assert reads == []  # seed files unchanged: not even read
    first = sorted(seeds.glob("*.txt"))[0]
    first.write_text(
        first.read_text(encoding="utf-8") + "\nA new closing line.\n", encoding="utf-8"
    )
    assert ingest_job(services).status == "ok"
    assert len(reads) == 1
    with services.warehouse.connect(read_only=True) as db:
        text = db.scalar("SELECT text FROM articles WHERE url = ?", [f"seed:{first.name}"])
    assert text.rstrip().endswith("A new closing line.")


def test_dedup_rebuild_verify_and_retag_each_record_a_run_with_counts(
    make_settings, fake_embedder, caplog
):
    from tests.helpers import make_pipeline

    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    with caplog.at_level("INFO", logger="pipeline.app.jobs"):
        rebuilt = rebuild_job(services)
        verified = verify_job(settings, services.warehouse)
        retagged = retag_job(services)
    assert [r.status for r in (rebuilt, verified, retagged)] == ["ok", "ok", "ok"]
    assert rebuilt.counts["articles"] == 5 and rebuilt.counts["changed"] == 0
    assert verified.counts == {"checked": 0, "violations": 0}
    assert retagged.counts == {"topics": {}, "entities": {}}
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows("SELECT job, status, counts FROM runs ORDER BY id")
    assert [(job, status) for job, status, _ in rows] == [
        ("dedup_rebuild", "ok"),
        ("dedup_verify", "ok"),
        ("retag", "ok"),
    ]
    assert '"articles": 5' in rows[0][2] and '"checked": 0' in rows[1][2]
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.app.jobs"]
    assert [line.split()[0] for line in lines] == ["dedup_rebuild", "dedup_verify", "retag"]
    assert lines[2].endswith("no tag changed")


def test_a_failed_hand_run_job_records_its_run_and_raises_its_own_error(make_settings):
    from pipeline.errors import WarehouseError

    settings = make_settings()
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    with wh.transaction() as db:
        # The schema looks one migration behind: the job refuses to read it.
        db.execute(
            "DELETE FROM schema_migrations "
            "WHERE version = (SELECT max(version) FROM schema_migrations)"
        )
    with pytest.raises(WarehouseError, match="newswatch init"):
        verify_job(settings, wh)
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT job, status FROM runs") == [("dedup_verify", "error")]


def test_a_missing_command_module_fails_loudly(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "pipeline.cli.dedup":
                    raise ModuleNotFoundError("No module named 'pipeline.cli.dedup'",
                                              name=name)
        sys.meta_path.insert(0, Block())
    """)
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}"}
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode != 0 and "dedup" in out.stderr.splitlines()[-1]
