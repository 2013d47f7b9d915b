"""Jobs and daemon pieces that need no running scheduler: maintenance, digest timing, reload."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.daemon import Daemon, digest_overdue
from pipeline.errors import ConfigError
from pipeline.jobs import maintenance_job
from pipeline.settings import with_overrides
from pipeline.store.db import Warehouse


def test_maintenance_prunes_old_polls_and_records_a_run(make_settings):
    settings = make_settings("[schedule]\npoll_retention_days = 30\n")
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    now = datetime.now(timezone.utc)
    with wh.transaction() as db:
        db.execute("INSERT INTO feeds (url, config_url) VALUES ('http://a', 'http://a')")
        for days in (1, 10, 40, 100):
            db.execute("INSERT INTO feed_polls (feed_id, polled_at, status) VALUES (1, ?, 'ok')",
                       [now - timedelta(days=days)])
    result = maintenance_job(settings, wh, now=now)
    assert result.status == "ok" and result.counts["polls_pruned"] == 2
    with wh.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM feed_polls") == 2
        assert db.rows("SELECT job, status FROM runs") == [("maintenance", "ok")]


def test_digest_overdue_follows_day_time_and_zone(make_settings):
    s = make_settings('[schedule]\ndigest_day = "mon"\ndigest_time = "08:00"\n'
                      'timezone = "Europe/Berlin"\n')
    monday_early = datetime(2026, 11, 23, 6, 30, tzinfo=timezone.utc)  # 07:30 in Berlin
    monday_late = datetime(2026, 11, 23, 7, 30, tzinfo=timezone.utc)   # 08:30 in Berlin
    assert not digest_overdue(s, monday_early)
    assert digest_overdue(s, monday_late)
    assert digest_overdue(s, datetime(2026, 11, 26, 12, tzinfo=timezone.utc))


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
    assert daemon.pipe.settings.schedule.poll_interval_s == 120
    assert daemon.scheduler.get_job("poll").trigger.interval.total_seconds() == 120
    state["next"] = ConfigError("settings.toml: [http] concurrency: out of range")
    daemon.reload()
    assert daemon.settings.schedule.poll_interval_s == 120  # kept
