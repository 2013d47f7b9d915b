"""The warehouse schema: the ordered migrations shipped as `migrations/NNNN_name.sql`, which
of them a file lacks, and applying them (each in its own transaction, recorded in
`schema_migrations`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from pipeline.errors import WarehouseBusyError, WarehouseError, first_line

if TYPE_CHECKING:  # db.py calls these functions (Warehouse.migrate): no import back at run time
    from pipeline.store.db import Db, Warehouse


@dataclass(frozen=True)
class Migration:
    """One ordered, named schema change shipped as `migrations/NNNN_name.sql`."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """All shipped migrations in order."""
    found = []
    folder = resources.files("pipeline.store") / "migrations"
    for item in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise WarehouseError(f"two migrations share a version number: {versions}")
    return found


def pending_migrations(db: Db) -> list[Migration]:
    """Migrations not yet applied to the open file."""
    has_table = db.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    )
    applied = set()
    if has_table:
        applied = {r[0] for r in db.rows("SELECT version FROM schema_migrations")}
    return [m for m in load_migrations() if m.version not in applied]


def migrate(warehouse: Warehouse) -> list[str]:
    """Create or upgrade the schema; return the names of the migrations applied now."""
    applied: list[str] = []
    if warehouse.exists():
        # A current schema needs no write lock: a reader holding the file does not block.
        try:
            with warehouse.connect(read_only=True, wait_s=0) as db:
                if not pending_migrations(db):
                    return applied
        except WarehouseBusyError:
            pass
    with warehouse.connect() as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL)"
        )
        for migration in pending_migrations(db):
            db.execute("BEGIN TRANSACTION")
            try:
                db.execute(migration.sql)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, datetime.now(UTC)],
                )
                db.execute("COMMIT")
            except Exception as exc:
                db.execute("ROLLBACK")
                raise WarehouseError(
                    f"{warehouse.path}: migration {migration.version:04d}_"
                    f"{migration.name} failed: {first_line(exc)}"
                ) from None
            applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


def check_current(warehouse: Warehouse) -> None:
    """Raise unless the file exists and every migration is applied."""
    with warehouse.connect(read_only=True, wait_s=30) as db:
        pending = pending_migrations(db)
    if pending:
        raise WarehouseError(
            f"{warehouse.path}: warehouse schema is out of date; run `newswatch init`"
        )
