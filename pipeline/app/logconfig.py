"""Logging set-up: readable lines for people, one JSON object per line for log shippers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_NOISY = (
    "httpx",
    "httpcore",
    "apscheduler.executors",
    "trafilatura",
    "htmldate",
    "courlan",
    "urllib3",
    "filelock",
    "sentence_transformers",
    "transformers",
    "matplotlib",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with any `extra` fields kept."""

    _RESERVED = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _SchedulerNoise(logging.Filter):
    """APScheduler's per-job chatter is debug detail; the jobs log their own one line."""

    _QUIET = (
        "Adding job tentatively",
        "Added job",
        "Scheduler started",
        "Running job",
        'Job "',
        "maximum number of running instances",
        "Removed job",
        "Paused scheduler",
        "Scheduler has been shut down",
        "Looking for jobs",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("apscheduler") and record.levelno < logging.ERROR:
            message = record.getMessage()
            if any(q in message for q in self._QUIET):
                return False
        return True


def configure_logging(fmt: str = "text", level: str = "info") -> None:
    """Send log records to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler.addFilter(_SchedulerNoise())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
