"""Which statements `newswatch sql` lets through (queries only), and how it says no."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.errors import ReadOnlyQueryError

#: DuckDB statement types that only read. The reading pragmas (`PRAGMA table_info('articles')`,
#: `PRAGMA show_tables`, `PRAGMA version`, ...) parse as SELECT; what remains of type PRAGMA
#: switches something (profiling, checkpoints, the optimizer), so it is refused. COPY, EXPORT and
#: ATTACH reach files, SET/RESET and LOAD (also INSTALL) change the session: all refused. The
#: connection is also sandboxed (store.db.Warehouse.query_connection), so this list is the
#: first of two locks, and the one that gives the clearer message.
READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN"})

#: DuckDB parses INSTALL as a LOAD statement.
_NAMES = {"LOAD": "LOAD and INSTALL"}

#: DuckDB's wording when the sandbox stops a query, and what newswatch adds to it.
_SANDBOX_HINTS = {
    "disabled by configuration": "`newswatch sql` reads the warehouse only; to export a result "
    "use --output FILE",
    "disabled through configuration": "`newswatch sql` loads no extension",
    "configuration has been locked": "`newswatch sql` changes no setting",
}

#: A hint for the refusals an analyst is likeliest to meet.
_REFUSAL_HINTS = {
    "COPY": "; to export a result use `newswatch sql QUERY --output FILE`",
    "EXPORT": "; to export a result use `newswatch sql QUERY --output FILE`",
}


def check_read_only(statement_types: Sequence[str]) -> None:
    """Raise ReadOnlyQueryError unless every statement only reads."""
    if not statement_types:
        raise ReadOnlyQueryError("no SQL statement given")
    for kind in statement_types:
        if kind not in READ_ONLY_TYPES:
            raise ReadOnlyQueryError(
                f"`newswatch sql` is read-only: {_NAMES.get(kind, kind)} statements are refused "
                f"(allowed: {', '.join(sorted(READ_ONLY_TYPES))}){_REFUSAL_HINTS.get(kind, '')}"
            )


def describe_failure(exc: BaseException) -> str:
    """The first line of a query error, with a word on the sandbox when it is the cause."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else repr(exc)
    for mark, hint in _SANDBOX_HINTS.items():
        if mark in line:
            return f"{line} ({hint})"
    return line
