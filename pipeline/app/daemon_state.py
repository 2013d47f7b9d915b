"""The daemon's published state: a JSON file beside the warehouse, rewritten whenever a job
starts or ends, that `newswatch status` reads (pid, host, the job running, the next runs, the
last outcomes). Informative only: nothing waits on it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def state_path(warehouse: Path) -> Path:
    """The daemon's published state file, beside the warehouse."""
    return warehouse.with_name(f"{warehouse.name}.daemon.json")


def read_state(warehouse: Path) -> dict[str, Any]:
    """The last state a daemon published for this warehouse ({} if none)."""
    try:
        return json.loads(state_path(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_state(warehouse: Path, state: dict[str, Any]) -> None:
    """Publish the state (replacing the file at once, so a reader never sees half of it)."""
    path = state_path(warehouse)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot publish daemon state: %s", exc)


def next_runs(scheduler: Any) -> dict[str, dict[str, Any]]:
    """Each scheduled job's name and next run time (an APScheduler scheduler's jobs)."""
    jobs = {}
    for job in scheduler.get_jobs():
        nxt = getattr(job, "next_run_time", None)
        jobs[job.id] = {"name": job.name, "next_run_at": nxt.isoformat() if nxt else None}
    return jobs
