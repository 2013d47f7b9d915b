"""Progress bars for long commands on a terminal (silent when output is not a terminal)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.ingest import Reporter

_LABELS = {"feeds": "polling feeds", "pages": "fetching pages", "articles": "storing articles"}


class RichReporter(Reporter):
    """Shows one bar per stage on stderr when it is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
            disable=not self.enabled,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int | None = None) -> None:
        """Add a bar for a stage."""
        self._tasks[stage] = self._progress.add_task(_LABELS.get(stage, stage), total=total)

    def grow(self, stage: str, n: int = 1) -> None:
        """A stage has more to do."""
        task = self._tasks.get(stage)
        if task is not None:
            current = self._progress.tasks[task].total or 0
            self._progress.update(task, total=current + n)

    def advance(self, stage: str, n: int = 1) -> None:
        """A stage made progress."""
        task = self._tasks.get(stage)
        if task is not None:
            self._progress.advance(task, n)


class BackfillBar:
    """One bar over the archive bytes to read, with files, pages, pages/s and ETA on stderr
    when it is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = Progress(
            TextColumn("backfill"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            TextColumn("{task.fields[pages]} pages"),
            TextColumn("{task.fields[rate]:.1f} pages/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not self.enabled,
        )
        self._task: TaskID | None = None
        self._pages = 0
        self._files = 0
        self._t0 = time.monotonic()

    def __enter__(self) -> BackfillBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, files: int, total_bytes: int) -> None:
        """The files to read and their total size."""
        self._t0 = time.monotonic()
        self._task = self._progress.add_task(
            "backfill", total=max(total_bytes, 1), files=f"0/{files}", pages=0, rate=0.0
        )
        self._total_files = files

    def file_done(self, size: int, pages: int) -> None:
        """One more file finished."""
        if self._task is None:
            return
        self._files += 1
        self._pages += pages
        rate = self._pages / max(time.monotonic() - self._t0, 1e-6)
        self._progress.update(
            self._task,
            advance=size,
            files=f"{self._files}/{self._total_files}",
            pages=self._pages,
            rate=rate,
        )
