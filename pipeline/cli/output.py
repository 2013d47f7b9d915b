"""Rendering rows for the terminal: rich tables, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "csv", "json")


def format_option(*choices: str, help: str = "Output format on stdout.") -> Any:
    """The --format option every listing command shares (table by default)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices or FORMATS)),
        default="table",
        show_default=True,
        help=help,
    )


def plain(value: Any) -> Any:
    """A JSON-friendly form of a database value."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (UUID, time, timedelta)):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        return ""
    value = plain(value)
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def render_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    max_width: int = 80,
    console: Console | None = None,
) -> None:
    """Print rows as a table (cells are plain text: a stored title's brackets are not markup)."""
    table = Table(
        title=Text(title) if title is not None else None, show_lines=False, header_style="bold"
    )
    for name in columns:
        table.add_column(Text(name), overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(v, max_width)) for v in row))
    (console or Console()).print(table)


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as CSV text with a header line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                _cell(v, 10**9)
                if isinstance(plain(v), (list, dict))
                else ("" if v is None else plain(v))
                for v in row
            ]
        )
    return buf.getvalue()


def to_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as a JSON array of objects."""
    return json.dumps(
        [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows],
        ensure_ascii=False,
        indent=2,
    )


def emit(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    *,
    title: str | None = None,
    max_width: int = 80,
) -> None:
    """Print rows on stdout as a table, CSV or JSON."""
    if fmt == "csv":
        click.echo(to_csv(columns, rows), nl=False)
    elif fmt == "json":
        click.echo(to_json(columns, rows))
    else:
        render_table(columns, rows, title=title, max_width=max_width)
