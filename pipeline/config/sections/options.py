"""How a setting is declared: its default, a help line and the values it allows (read by
pipeline/config/settings.py to validate and by `newswatch config` to explain)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any


def opt(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    path: bool = False,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare one setting: its default, a help line, and what values are allowed."""
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices, "path": path, "check": check}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)
