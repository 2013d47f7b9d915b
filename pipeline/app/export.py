"""`newswatch export DIR`: the warehouse as a Parquet data lake any tool reads without newswatch.

    DIR/articles/month=YYYY-MM/part-0.parquet     articles with topics and watched entities
    DIR/stories/month=YYYY-MM/part-0.parquet      one row per story, by the month it began
    DIR/embeddings/month=YYYY-MM/part-0.parquet   article vectors (with --embeddings)
    DIR/marks/month=YYYY-MM/part-0.parquet        analysts' marks as made, by the month made
    DIR/_newswatch_export.json                     what was written, when, from which warehouse

Hive-style partitions (DuckDB `read_parquet(..., hive_partitioning = true)`, Spark, pandas and
pyarrow datasets read them as they are). A run writes into a staging folder beside the target
and then swaps whole month folders in, so a reader never sees half a month and a re-run never
duplicates rows. `since` is widened to the start of its month: the months from there on are
rewritten, earlier ones are left as they are.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import NewswatchError
from pipeline.store import lake
from pipeline.store.db import Warehouse

MANIFEST = "_newswatch_export.json"


class ExportError(NewswatchError):
    """The export folder cannot be written."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    directory: Path
    rows: dict[str, int] = field(default_factory=dict)
    months: dict[str, tuple[str, ...]] = field(default_factory=dict)
    since: datetime | None = None


def month_start(when: datetime) -> datetime:
    """The first instant (UTC) of the month of `when`."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def export_parquet(
    warehouse: Warehouse, target: Path, *, since: datetime | None = None, embeddings: bool = False
) -> ExportResult:
    """Write articles, stories (and vectors) as month-partitioned Parquet under `target`."""
    start = month_start(since) if since is not None else None
    target = target.expanduser().resolve()
    if target == warehouse.path.resolve().parent or warehouse.path.resolve().is_relative_to(target):
        raise ExportError(f"{target}: choose a folder that does not hold the warehouse")
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = target / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
    except OSError as exc:
        raise ExportError(f"{target}: cannot write the export folder: {exc}") from None
    writers = {
        "articles": lake.write_articles,
        "stories": lake.write_stories,
        "marks": lake.write_marks,
    }
    if embeddings:
        writers["embeddings"] = lake.write_embeddings
    rows: dict[str, int] = {}
    try:
        with warehouse.connect(read_only=True, wait_s=60) as db:
            for name, write in writers.items():
                rows[name] = write(db, staging / name, start)
        months = {
            name: _swap_in(staging / name, target / name, full=start is None) for name in writers
        }
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = ExportResult(target, rows, months, start)
    (target / MANIFEST).write_text(
        json.dumps(
            {
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "warehouse": str(warehouse.path),
                "since": start.isoformat() if start else None,
                "rows": rows,
                "months": {k: list(v) for k, v in months.items()},
                "partitioning": "hive: month=YYYY-MM",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return result


def _swap_in(new: Path, dest: Path, *, full: bool) -> tuple[str, ...]:
    """Replace month folders of `dest` by those of `new`; a full export drops stale months."""
    dest.mkdir(parents=True, exist_ok=True)
    written = sorted(p.name for p in new.iterdir()) if new.is_dir() else []
    for name in written:
        old = dest / name
        trash = dest / f".old-{name}-{uuid.uuid4().hex}"
        if old.exists():
            old.rename(trash)
        (new / name).rename(old)
        shutil.rmtree(trash, ignore_errors=True)
    if full:
        for stale in dest.iterdir():
            if stale.name.startswith("month=") and stale.name not in written:
                shutil.rmtree(stale, ignore_errors=True)
    return tuple(n.removeprefix("month=") for n in written)
