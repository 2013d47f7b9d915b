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

The folder may hold other things (a README, a user's own files inside a month folder): the
marker file records the files of each month an export wrote, and a later export replaces or
removes only those. A non-empty folder without the marker is refused unless `force`, and even
then nothing newswatch did not write is deleted or replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import NewswatchError
from pipeline.store import lake
from pipeline.store.db import Db, Warehouse

MANIFEST = "_newswatch_export.json"
_STAGING = re.compile(r"\.staging-[0-9a-f]{32}")

#: dataset -> month (YYYY-MM) -> names of the files an export wrote in that month's folder.
Written = dict[str, dict[str, list[str]]]
#: Writes one dataset into a folder of month partitions, from a month on (None: all); the rows.
DatasetWriter = Callable[[Db, Path, datetime | None], int]


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
    warehouse: Warehouse,
    target: Path,
    *,
    since: datetime | None = None,
    embeddings: bool = False,
    force: bool = False,
) -> ExportResult:
    """Write articles, stories (and vectors) as month-partitioned Parquet under `target`,
    replacing only what earlier exports wrote there (`force`: also into a non-empty folder
    that holds no export)."""
    start = month_start(since) if since is not None else None
    target = _checked_target(warehouse, target.expanduser().resolve())
    before = _earlier_export(target, force=force)
    staging = _make_staging(target)
    writers = _writers(embeddings)
    rows: dict[str, int] = {}
    written: Written = {}
    try:
        with warehouse.connect(read_only=True, wait_s=60) as db:
            for name, write in writers.items():
                rows[name] = write(db, staging / name, start)
        fresh = {name: _files(staging / name) for name in writers}
        for name in writers:  # before anything moves: nothing of the user's is in the way
            _check_clear(target / name, fresh[name], before.get(name, {}))
        for name in writers:
            written[name] = _swap_in(
                staging / name, target / name, fresh[name], before.get(name, {}), full=start is None
            )
    except OSError as exc:
        raise ExportError(f"{target}: cannot write the export: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name, kept in before.items():  # datasets not written this time stay recorded
        written.setdefault(name, kept)
    months = {name: tuple(sorted(fresh[name])) for name in writers}
    result = ExportResult(target, rows, months, start)
    _write_manifest(
        target,
        {
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "warehouse": str(warehouse.path),
            "since": start.isoformat() if start else None,
            "rows": rows,
            "months": {k: list(v) for k, v in months.items()},
            "files": written,
            "partitioning": "hive: month=YYYY-MM",
        },
    )
    return result


def _checked_target(warehouse: Warehouse, target: Path) -> Path:
    """`target` (resolved) when it may take an export; ExportError when it holds the warehouse
    or is not a folder."""
    if target == warehouse.path.resolve().parent or warehouse.path.resolve().is_relative_to(target):
        raise ExportError(f"{target}: choose a folder that does not hold the warehouse")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target}: not a folder")
    return target


def _make_staging(target: Path) -> Path:
    """A new staging folder inside `target` (made too), where the datasets are written before
    they are swapped in."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = target / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
    except OSError as exc:
        raise ExportError(f"{target}: cannot write the export folder: {exc}") from None
    return staging


def _writers(embeddings: bool) -> dict[str, DatasetWriter]:
    """The datasets to export, each with the function that writes it (vectors on request)."""
    writers: dict[str, DatasetWriter] = {
        "articles": lake.write_articles,
        "stories": lake.write_stories,
        "marks": lake.write_marks,
    }
    if embeddings:
        writers["embeddings"] = lake.write_embeddings
    return writers


def _earlier_export(target: Path, *, force: bool) -> Written:
    """The files earlier exports wrote into `target` (by dataset and month); ExportError for
    a non-empty folder that is not an export, unless `force` (then nothing is recorded)."""
    marker = target / MANIFEST
    if not target.is_dir():
        return {}
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict):
            return _recorded(target, found)
    # What a killed export may leave behind (its staging folder) does not make a folder the
    # user's.
    if force or not any(not _STAGING.fullmatch(p.name) for p in target.iterdir()):
        return {}
    raise ExportError(
        f"{target} is not empty and holds no newswatch export (no valid {MANIFEST}); choose an "
        f"empty or new folder, or add --force (files newswatch did not write are kept)"
    )


def _recorded(target: Path, manifest: dict[str, Any]) -> Written:
    files = manifest.get("files")
    if isinstance(files, dict):
        return {
            str(name): {
                str(month): [str(f) for f in names if isinstance(f, str) and "/" not in f]
                for month, names in months.items()
                if isinstance(names, list)
            }
            for name, months in files.items()
            if isinstance(months, dict)
        }
    # A marker of a release that did not list its files: it wrote whole month folders of
    # `part-N.parquet` files, so those (and only those) are taken as its own.
    out: Written = {}
    for name in ("articles", "stories", "embeddings", "marks"):
        folder = target / name
        if folder.is_dir():
            out[name] = {
                month.name.removeprefix("month="): sorted(
                    p.name for p in month.glob("part-*.parquet") if p.is_file()
                )
                for month in folder.iterdir()
                if month.is_dir() and month.name.startswith("month=")
            }
    return out


def _files(folder: Path) -> dict[str, list[str]]:
    """The files DuckDB wrote in each month folder of a staged dataset."""
    if not folder.is_dir():
        return {}
    return {
        month.name.removeprefix("month="): sorted(p.name for p in month.iterdir())
        for month in folder.iterdir()
        if month.is_dir() and month.name.startswith("month=")
    }


def _check_clear(dest: Path, fresh: dict[str, list[str]], ours: dict[str, list[str]]) -> None:
    """ExportError when a file to be written would replace one no export wrote."""
    for month, names in fresh.items():
        for name in names:
            path = dest / f"month={month}" / name
            if os.path.lexists(path) and name not in ours.get(month, ()):
                raise ExportError(
                    f"{path} is in the way: newswatch did not write it and does not replace it; "
                    f"move it away, or export into another folder"
                )


def _swap_in(
    new: Path,
    dest: Path,
    fresh: dict[str, list[str]],
    ours: dict[str, list[str]],
    *,
    full: bool,
) -> dict[str, list[str]]:
    """Put the staged month folders of `new` in place of what exports wrote in `dest`; a full
    export also removes what it wrote for months it no longer has. Returns what `dest` now
    holds of newswatch's, by month."""
    dest.mkdir(parents=True, exist_ok=True)
    recorded = {m: list(names) for m, names in ours.items()}
    for month, names in fresh.items():
        folder = dest / f"month={month}"
        staged = new / f"month={month}"
        if not os.path.lexists(folder):
            staged.rename(folder)
        elif folder.is_dir() and set(os.listdir(folder)) <= set(ours.get(month, ())):
            # Only our own files: swap the whole folder, so a reader never sees half a month.
            trash = dest / f".old-{month}-{uuid.uuid4().hex}"
            folder.rename(trash)
            staged.rename(folder)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            # The user keeps files here: ours are replaced one by one (each rename atomic).
            for name in names:
                os.replace(staged / name, folder / name)
            for name in set(ours.get(month, ())) - set(names):
                (folder / name).unlink(missing_ok=True)
        recorded[month] = names
    if full:
        for month in set(ours) - set(fresh):
            folder = dest / f"month={month}"
            for name in ours[month]:
                with suppress(OSError):
                    (folder / name).unlink(missing_ok=True)
            with suppress(OSError):
                folder.rmdir()  # only when empty: what is left is the user's
            del recorded[month]
    return {m: sorted(names) for m, names in sorted(recorded.items())}


def _write_manifest(target: Path, manifest: dict[str, Any]) -> None:
    """Write the marker beside the data, atomically (a half-written marker would forget what
    the export owns)."""
    part = target / f".{MANIFEST}.{uuid.uuid4().hex}"
    part.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(part, target / MANIFEST)
