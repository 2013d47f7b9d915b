"""`/sql`: the read-only SQL of `newswatch sql`, results as a table, downloads as CSV, JSON or
Parquet.

Each query runs as `newswatch sql QUERY --output FILE` in a child process: the same guard and the
same sandboxed connection, no way around them. The sandbox locks DuckDB's configuration for the
whole database instance, which one process shares between its connections to a file, so it
cannot run inside a server whose other pages (or daemon) use the same file; a child also lets a
runaway query be stopped by its deadline.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from pipeline.web.params import text_param
from pipeline.web.render import Pages
from pipeline.web.site import Site

#: Rows the page shows; the downloads hold every row.
SHOWN_ROWS = 500
DOWNLOADS = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}


@dataclass(frozen=True)
class SqlPage:
    """A query and its result (or its error, as `newswatch sql` says it)."""

    query: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    total_rows: int = 0
    error: str | None = None
    examples: tuple[str, ...] = ()


EXAMPLES = (
    "SELECT title, topics FROM relevant_articles ORDER BY published_at DESC LIMIT 20",
    "SELECT * FROM weekly_topic_counts",
    "SELECT * FROM stories ORDER BY last_published DESC LIMIT 50",
    "SELECT * FROM feed_health",
)


class SqlRunner:
    """Runs analysts' queries in child processes, a few at a time."""

    def __init__(self, site: Site, *, concurrent: int = 2) -> None:
        self.site = site
        self._slots = asyncio.Semaphore(concurrent)

    def _command(self, query: str, output: Path) -> list[str]:
        settings = self.site.settings
        command = [sys.executable, "-m", "pipeline"]
        if settings.source:
            command += ["--config", str(settings.source)]
        command += ["--warehouse", str(self.site.warehouse.path), "sql", query]
        return command + ["--output", str(output)]

    async def run(self, query: str, output: Path) -> str | None:
        """Write the query's result to `output`; the error line when it fails."""
        if self._slots.locked():
            return "two queries are running already; try again in a moment"
        async with self._slots:
            # The child reads the same settings file and environment as this server.
            process = await asyncio.create_subprocess_exec(
                *self._command(query, output),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            timeout = self.site.settings.web.sql_timeout_s
            try:
                _, err = await asyncio.wait_for(process.communicate(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                return (
                    f"the query ran longer than {timeout:g} s ([web] sql_timeout_s) and was stopped"
                )
        if process.returncode != 0:
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            message = lines[-1] if lines else f"exit status {process.returncode}"
            return message.removeprefix("newswatch: ")
        return None


def _read(path: Path) -> tuple[tuple[str, ...], list[tuple[Any, ...]], int]:
    import pyarrow.parquet as pq  # only /sql needs it, and only after a query ran

    table = pq.read_table(path)
    shown = table.slice(0, SHOWN_ROWS).to_pylist()
    columns = tuple(table.column_names)
    return columns, [tuple(r[c] for c in columns) for r in shown], table.num_rows


def _cleanup(folder: str) -> None:
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)


async def page(runner: SqlRunner, pages: Pages, request: Request) -> Response:
    """GET /sql?q=... (and /sql.json): the result as a table."""
    query = text_param(request, "q")
    if not query:
        return pages.render(request, "sql.html", SqlPage("", examples=EXAMPLES), title="SQL")
    folder = tempfile.mkdtemp(prefix="newswatch-sql-")
    try:
        path = Path(folder) / "result.parquet"
        error = await runner.run(query, path)
        if error is not None:
            status = 503 if "try again" in error else 400
            data = SqlPage(query, error=error, examples=EXAMPLES)
            return pages.render(request, "sql.html", data, status=status, title="SQL")
        columns, rows, total = await asyncio.to_thread(_read, path)
    finally:
        _cleanup(folder)
    data = SqlPage(query, columns, tuple(rows), total, examples=EXAMPLES)
    return pages.render(request, "sql.html", data, title="SQL")


async def download(runner: SqlRunner, pages: Pages, request: Request) -> Response:
    """GET /sql/result.{csv,json,parquet}?q=...: every row of the result as a file."""
    kind = str(request.path_params["kind"])
    query = text_param(request, "q")
    if kind not in DOWNLOADS:
        return pages.error(request, 404, f"no download as {kind!r}: csv, json or parquet")
    if not query:
        return pages.error(request, 400, "q: give a query")
    folder = tempfile.mkdtemp(prefix="newswatch-sql-")
    path = Path(folder) / f"result.{kind}"
    error = await runner.run(query, path)
    if error is not None:
        _cleanup(folder)
        return pages.error(request, 503 if "try again" in error else 400, error)
    return FileResponse(
        path,
        media_type=DOWNLOADS[kind],
        filename=f"newswatch-result.{kind}",
        background=BackgroundTask(_cleanup, folder),
    )


def shown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """Cells as the table shows them: text, with long values cut."""
    out = []
    for row in rows:
        cells = []
        for value in row:
            text = "" if value is None else str(value)
            cells.append(text if len(text) <= 300 else text[:299] + "…")
        out.append(cells)
    return out
