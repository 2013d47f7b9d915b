"""`newswatch sql --output FILE`: a result as CSV, JSON or Parquet, never over the warehouse.

newswatch writes the file itself (DuckDB's COPY is refused: the query runs without file access),
through a temporary file in the same folder renamed into place, so a failure leaves no half file.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.cli.output import plain, to_json
from pipeline.errors import ExportError

#: File extension -> format name.
EXPORT_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet"}

#: Files DuckDB and newswatch keep beside the warehouse, under its name: the write-ahead log,
#: the spill folder, the daemon's published state, the vector index and its description (each
#: also as the `.tmp` it is written through), a writer's flag (pipeline/store/gate.py), the text
#: store and its journal (pipeline/store/textstore.py); `<name>.<what>.lock` are matched apart.
_SIDE_SUFFIXES = (
    ".wal",
    ".tmp",
    ".daemon.json",
    ".daemon.tmp",
    ".vectors.usearch",
    ".vectors.json",
    ".writer-waiting",
    ".texts.sqlite",
    ".texts.sqlite-journal",
)


def export_format(path: Path) -> str | None:
    """The export format named by the file's extension, or None for an unknown one."""
    return EXPORT_FORMATS.get(path.suffix.lower())


def refuse_warehouse_files(dest: Path, warehouse: Path, folders: Sequence[Path] = ()) -> None:
    """Raise ExportError if `dest` is the warehouse, a file it keeps beside it, or a file in one
    of newswatch's own `folders` (the model cache, the outbox), by any name or link."""
    which = _warehouse_file(dest, warehouse) or _in_folders(dest, folders)
    if which is not None:
        raise ExportError(f"refusing to write {dest}: it is {which}")


def check_destination(dest: Path, *, force: bool) -> None:
    """Raise ExportError unless `dest` can be written: in an existing folder, no clobbering."""
    if dest.is_dir():
        raise ExportError(f"cannot write {dest}: it is a folder")
    if not dest.parent.is_dir():
        raise ExportError(f"cannot write {dest}: folder {dest.parent} does not exist")
    if not force and os.path.lexists(dest):
        raise ExportError(f"{dest} exists; add --force to replace it")


def write_table(table: Any, dest: Path, *, force: bool) -> None:
    """Write a pyarrow Table to `dest` in the format its extension names, atomically."""
    import pyarrow as pa

    writer = _WRITERS[EXPORT_FORMATS[dest.suffix.lower()]]
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {_first_line(exc)}") from None
    os.close(fd)
    part = Path(name)
    try:
        writer(table, part)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates the file for its owner only; give it the mode any new file gets.
        os.chmod(part, 0o666 & ~_umask())
        if not force and os.path.lexists(dest):  # it appeared while the query ran
            raise ExportError(f"{dest} exists; add --force to replace it")
        os.replace(part, dest)
    except (OSError, pa.ArrowException) as exc:
        part.unlink(missing_ok=True)
        raise ExportError(f"cannot write {dest}: {_first_line(exc)}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _warehouse_file(dest: Path, warehouse: Path) -> str | None:
    target = Path(os.path.realpath(dest))
    # DuckDB names its WAL after the path it was given, so when the warehouse path is a
    # symlink its side files sit beside the link; the file itself is where the link points.
    bases = {
        Path(os.path.realpath(warehouse)),
        Path(os.path.realpath(warehouse.parent)) / warehouse.name,
    }
    candidates = [target]
    if target.exists():
        # The same file under another name (a hard link, a bind mount).
        candidates += [
            existing
            for base in bases
            for existing in base.parent.glob(f"{glob.escape(base.name)}*")
            if os.path.samefile(existing, target)
        ]
    for path in candidates:
        for base in bases:
            if path == base:
                return f"the warehouse {warehouse}"
            if _side_file_of(path, base):
                return f"a file newswatch keeps beside the warehouse {warehouse}"
    return None


def _in_folders(dest: Path, folders: Sequence[Path]) -> str | None:
    target = Path(os.path.realpath(dest))
    for folder in folders:
        real = Path(os.path.realpath(folder))
        if target.is_relative_to(real):
            return f"in {folder}, a folder newswatch keeps its own files in"
        if target.exists() and real.is_dir():
            # The same file under another name (a hard link) is the folder's file too.
            for inside in real.rglob("*"):
                if inside.is_file() and os.path.samefile(inside, target):
                    return f"a file newswatch keeps in {folder} ({inside.name})"
    return None


def _side_file_of(path: Path, warehouse: Path) -> bool:
    if path.parent != warehouse.parent:
        return False
    name, base = path.name, warehouse.name
    sides = {base + suffix for suffix in _SIDE_SUFFIXES}
    return (
        name in sides
        or name.removesuffix(".tmp") in sides
        or (name.startswith(base + ".") and name.endswith(".lock"))
    )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _write_csv(table: Any, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Arrow's CSV writer takes flat columns only; lists, structs and maps go in as JSON text,
    # bytes as hex, as `--format csv` prints them.
    for i, field in enumerate(table.schema):
        if (
            pa.types.is_nested(field.type)
            or pa.types.is_binary(field.type)
            or pa.types.is_large_binary(field.type)
        ):
            text = [
                None if v is None else _text(v)
                for v in table.column(i).to_pylist(maps_as_pydicts="lossy")
            ]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    pacsv.write_csv(table, str(path))


def _text(value: Any) -> str:
    value = plain(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _write_json(table: Any, path: Path) -> None:
    columns = [table.column(i).to_pylist(maps_as_pydicts="lossy") for i in range(table.num_columns)]
    path.write_text(
        to_json(table.column_names, list(zip(*columns, strict=True))) + "\n", encoding="utf-8"
    )


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, str(path))


_WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "csv": _write_csv,
    "json": _write_json,
    "parquet": _write_parquet,
}
