"""Reading the user's TOML files (settings, feeds, topics, seed notes) with one kind of error."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; a syntax or read error is a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None


def array_of_tables(path: Path, data: dict[str, Any], key: str) -> list:
    """The one top-level array of tables a file holds (`[[key]]`); other keys are errors."""
    unknown = set(data) - {key}
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key {sorted(unknown)[0]!r}; the file holds [[{key}]] tables"
        )
    items = data.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(f"{path}: {key} must be an array of tables ([[{key}]])")
    return items


def numbered_tables(path: Path, items: list, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each `[[key]]` table with where it stands (`path: [[key]] #n`, for messages); an entry
    that is not a table is a ConfigError."""
    for n, item in enumerate(items, 1):
        where = f"{path}: [[{key}]] #{n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table")
        yield where, item
