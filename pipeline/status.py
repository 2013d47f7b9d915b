"""What `newswatch status` reports, gathered from the warehouse with a read-only connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from pipeline.cli.output import render_table
from pipeline.settings import Settings
from pipeline.store import articles as article_store
from pipeline.store.db import Warehouse


@dataclass(frozen=True)
class StatusReport:
    """A snapshot of the warehouse for operators."""

    warehouse: str
    by_source: dict[str, int]
    tables: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


def gather_status(settings: Settings, warehouse: Warehouse) -> StatusReport:
    """Read the counts (and whatever else the warehouse knows) for the status report."""
    with warehouse.connect(read_only=True, wait_s=30) as db:
        return StatusReport(warehouse=str(warehouse.path),
                            by_source=article_store.counts_by_source(db),
                            tables=article_store.table_counts(db))


def render_status(report: StatusReport, console: Console) -> None:
    """Print the status report."""
    console.print(f"[bold]warehouse[/] {report.warehouse}")
    render_table(["source", "articles"], sorted(report.by_source.items()),
                 title="articles per source", console=console)
    render_table(["table", "rows"], sorted(report.tables.items()), title="rows per table",
                 console=console)
