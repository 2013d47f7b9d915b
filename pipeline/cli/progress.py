"""Progress bars for long commands on a terminal (silent when output is not a terminal)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.ingest import Reporter

_LABELS = {"feeds": "polling feeds", "pages": "fetching pages", "articles": "storing articles"}


class RichReporter(Reporter):
    """Shows one bar per stage on stderr when it is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = Progress(TextColumn("{task.description:<18}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False,
                                  disable=not self.enabled)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "RichReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
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
