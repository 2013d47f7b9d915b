"""Which statements `newswatch sql` lets through: queries only, never writes."""

from __future__ import annotations

from typing import Sequence

from pipeline.errors import ReadOnlyQueryError

#: DuckDB statement types that only read. COPY is allowed because the connection is read-only:
#: `COPY (SELECT ...) TO 'file.csv'` exports, `COPY table FROM` is refused by DuckDB itself.
READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "COPY"})


def check_read_only(statement_types: Sequence[str]) -> None:
    """Raise ReadOnlyQueryError unless every statement only reads."""
    if not statement_types:
        raise ReadOnlyQueryError("no SQL statement given")
    for kind in statement_types:
        if kind not in READ_ONLY_TYPES:
            raise ReadOnlyQueryError(
                f"`newswatch sql` is read-only: {kind} statements are refused "
                f"(allowed: {', '.join(sorted(READ_ONLY_TYPES))})")
