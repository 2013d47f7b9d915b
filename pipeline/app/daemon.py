"""`newswatch run`: the long-lived daemon (APScheduler 3) around the jobs in pipeline.app.jobs.

One daemon per warehouse (an fcntl lock the kernel drops if the process dies). Jobs run one at a
time on a single worker thread, so they never compete for the warehouse with each other; the file
itself is opened only while a job writes. SIGTERM/SIGINT stop new work; a cycle in progress
stores the pages it has fetched within a bounded grace (pipeline/ingest/cycle.py) and leaves the
rest due at the next start; then the daemon exits 0. SIGHUP reloads the settings (feeds.toml is
re-read every cycle anyway). The schedule is published in `<warehouse>.daemon.json` for
`newswatch status`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pipeline.app.daemon_state import next_runs, write_state
from pipeline.app.jobs import JobResult, digest_job, ingest_job, maintenance_job, writer_lock
from pipeline.app.lock import daemon_lock
from pipeline.config.settings import Settings
from pipeline.embed.factory import make_embedder, make_warehouse
from pipeline.errors import ConfigError
from pipeline.ingest import Services
from pipeline.ingest.upkeep import sync_seeds

log = logging.getLogger(__name__)

#: How long shutdown may take before the process gives up waiting for the job in progress.
SHUTDOWN_GRACE_S = 25.0


def _digest_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.schedule.digest_time.split(":"))
    return CronTrigger(
        day_of_week=settings.schedule.digest_day,
        hour=hour,
        minute=minute,
        timezone=ZoneInfo(settings.schedule.timezone),
    )


def _maintenance_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.schedule.maintenance_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(settings.schedule.timezone))


def _poll_trigger(settings: Settings) -> IntervalTrigger:
    return IntervalTrigger(
        seconds=settings.schedule.poll_interval_s, jitter=settings.schedule.poll_jitter_s or None
    )


def digest_overdue(settings: Settings, now: datetime) -> bool:
    """Whether this week's digest time has passed (so a daemon started late sends it now)."""
    trigger = _digest_trigger(settings)
    week_start = now.astimezone(ZoneInfo(settings.schedule.timezone))
    week_start = (week_start - timedelta(days=week_start.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    fire = trigger.get_next_fire_time(None, week_start)
    return fire is not None and fire <= now


class Companion(Protocol):
    """A service that runs beside the daemon's jobs (the reading room)."""

    description: str

    def start(self) -> None:
        """Start serving (raise to stop the daemon from starting)."""

    def stop(self) -> None:
        """Stop, waiting briefly for work in progress."""


class Daemon:
    """Scheduler, signal handling and state publishing for one warehouse."""

    def __init__(
        self,
        settings: Settings,
        reload_settings: Callable[[], Settings],
        companion: Callable[[Daemon], Companion | None] | None = None,
    ) -> None:
        self.settings = settings
        self._reload_settings = reload_settings
        # What runs beside the jobs for as long as the daemon does (the reading room, given by
        # `newswatch run`): built before anything starts, started once the warehouse is ready.
        self._companion = companion
        self.stop = threading.Event()
        self._hup = threading.Event()
        self.warehouse = make_warehouse(settings, stop=self.stop)
        self.services = Services(settings, warehouse=self.warehouse)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=ZoneInfo(settings.schedule.timezone),
        )
        self.started_at = datetime.now(UTC)
        self.running: str | None = None
        self.last: dict[str, dict[str, Any]] = {}
        self._jobs_seen: dict[str, dict[str, Any]] = {}

    # -- jobs --------------------------------------------------------------------------------

    def _job(self, name: str, fn: Callable[[], JobResult]) -> None:
        if self.stop.is_set():
            return
        self.running = name
        self._publish()
        try:
            result = fn()
            self.last[name] = {
                "status": result.status,
                "seconds": round(result.seconds, 2),
                "finished_at": datetime.now(UTC).isoformat(),
                "error": result.error,
            }
        finally:
            self.running = None
            self._publish()

    def poll(self) -> None:
        """The poll job: one ingest cycle over due feeds."""
        self._job("ingest", lambda: ingest_job(self.services, cancel=self.stop))

    def digest(self) -> None:
        """The weekly digest job; a failed send is retried after [schedule] digest_retry_s."""

        def run() -> JobResult:
            result = digest_job(self.settings, self.warehouse)
            if result.status == "error" and not self.stop.is_set():
                when = datetime.now(UTC) + timedelta(seconds=self.settings.schedule.digest_retry_s)
                log.warning(
                    "digest not delivered (%s); retrying at %s",
                    result.error,
                    when.isoformat(timespec="seconds"),
                )
                self.scheduler.add_job(
                    self.digest,
                    DateTrigger(run_date=when),
                    id="digest-retry",
                    name="digest retry",
                    replace_existing=True,
                )
            return result

        self._job("digest", run)

    def maintenance(self) -> None:
        """The daily maintenance job."""
        self._job("maintenance", lambda: maintenance_job(self.settings, self.warehouse))

    def _schedule(self, first_poll: datetime | None) -> None:
        s = self.settings
        jobs: list[tuple[Callable[[], None], Any, str, str, dict[str, Any]]] = [
            (self.poll, _poll_trigger(s), "poll", "poll feeds", {"next_run_time": first_poll}),
            (self.digest, _digest_trigger(s), "digest", "weekly digest", {}),
            (self.maintenance, _maintenance_trigger(s), "maintenance", "maintenance", {}),
        ]
        for fn, trigger, job_id, name, extra in jobs:
            self.scheduler.add_job(
                fn, trigger, id=job_id, name=name, replace_existing=True, **extra
            )

    # -- state, signals, reload -----------------------------------------------------------------

    def _publish(self, status: str = "running") -> None:
        # While shutting down the scheduler holds its job-store lock until the running job
        # ends: asking it for jobs from that job would wait forever.
        if not self.stop.is_set():
            with suppress(Exception):  # the state file is informative only
                self._jobs_seen = next_runs(self.scheduler)
        state = {
            "status": status,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self.started_at.isoformat(),
            "settings": self.settings.source,
            "warehouse": str(self.warehouse.path),
            "running_job": self.running,
            "jobs": self._jobs_seen,
            "last": self.last,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        if (leads := self.services.lead_state_known) is not None:
            state["cross_lingual"] = leads.detail
        write_state(self.warehouse.path, state)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum == getattr(signal, "SIGHUP", None):
            self._hup.set()
            return
        if not self.stop.is_set():
            log.info(
                "received %s: finishing the work in progress, starting nothing new",
                signal.Signals(signum).name,
            )
        self.stop.set()

    def reload(self) -> None:
        """Re-read the settings (SIGHUP); keep the old ones if the new file is invalid."""
        try:
            new = self._reload_settings()
        except ConfigError as exc:
            log.error("reload refused, keeping the current settings: %s", exc)
            return
        if new.warehouse.path != self.settings.warehouse.path:
            log.error("reload refused: the warehouse path cannot change while running")
            return
        old, self.settings = self.settings, new
        self.services.settings = new
        if new.embed != old.embed:
            self.services.embedder = make_embedder(new)
        self.services.reset()
        self.warehouse.busy_timeout_s = new.warehouse.busy_timeout_s
        self._schedule(first_poll=None)
        log.info("settings reloaded from %s", new.source)
        self._publish()

    def _listener(self, event: Any) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.info("job %s missed its time; runs coalesced", event.job_id)
        self._publish()

    # -- main loop ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate, load the seeds, then load the model and build the index and tagger while
        the warehouse is open read-only, so the first cycle holds the file only to write."""
        with writer_lock(self.warehouse, "start"):
            self.warehouse.migrate()
            sync_seeds(self.services)
        self.services.warm_up()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        with daemon_lock(self.warehouse.path):
            for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    signal.signal(sig, self._on_signal)
            log.info(
                "newswatch daemon started (pid %d) for %s; settings %s",
                os.getpid(),
                self.warehouse.path,
                self.settings.source,
            )
            # Checked before anything starts: an address it may not use, or a port taken,
            # stops the daemon with one line.
            web = self._companion(self) if self._companion is not None else None
            self.prepare()
            if web is not None:
                web.start()
                log.info("%s", web.description)
            self.scheduler.add_listener(
                self._listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
            )
            self._schedule(first_poll=datetime.now(UTC))
            if digest_overdue(self.settings, datetime.now(UTC)):
                # A daemon started after this week's digest time sends the digest if it is
                # still unsent; deliver_digest leaves a week already sent alone.
                self.scheduler.add_job(
                    self.digest,
                    DateTrigger(),
                    id="digest-catch-up",
                    name="digest catch-up",
                    replace_existing=True,
                )
            self.scheduler.start()
            self._publish()
            try:
                while not self.stop.wait(0.5):
                    if self._hup.is_set():
                        self._hup.clear()
                        self.reload()
            finally:
                if web is not None:
                    web.stop()
                self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self.stop.set()
        with suppress(Exception):  # not started or already stopped
            self.scheduler.pause()
        done = threading.Event()

        def wait_for_jobs() -> None:
            try:
                self.scheduler.shutdown(wait=True)
            finally:
                done.set()

        threading.Thread(target=wait_for_jobs, daemon=True, name="newswatch-shutdown").start()
        if not done.wait(SHUTDOWN_GRACE_S):
            log.error(
                "the job in progress did not stop within %.0f s; exiting anyway (its open "
                "transaction is rolled back)",
                SHUTDOWN_GRACE_S,
            )
            self._publish(status="stopped")
            logging.shutdown()
            # Worker threads would be joined at interpreter exit; the promise is to exit now.
            os._exit(0)
        self._publish(status="stopped")
        log.info("newswatch daemon stopped")
