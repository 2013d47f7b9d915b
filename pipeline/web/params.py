"""Reading a page's query parameters: a bad one is a 400 that names it, never a traceback."""

from __future__ import annotations

from starlette.requests import Request

#: Longer query values are refused: nothing a page takes needs more.
MAX_PARAM_CHARS = 2000


class BadParameter(ValueError):
    """A query parameter that cannot be used, with what was wrong."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def text_param(request: Request, name: str) -> str | None:
    """A text parameter, stripped; None when absent or empty."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if len(value) > MAX_PARAM_CHARS:
        raise BadParameter(name, f"longer than {MAX_PARAM_CHARS} characters")
    value = value.strip()
    return value or None


def int_param(request: Request, name: str, *, lo: int = 0, hi: int = 2**62) -> int | None:
    """A whole-number parameter within bounds; None when absent."""
    value = text_param(request, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadParameter(name, f"{value[:40]!r} is not a whole number") from None
    if not lo <= number <= hi:
        raise BadParameter(name, f"must be from {lo} to {hi}")
    return number


def path_id(request: Request, name: str) -> int:
    """A numeric id from the path (`/stories/12` or `/stories/12.json`)."""
    raw = str(request.path_params.get(name, ""))
    raw = raw.removesuffix(".json")
    if not raw.isdigit() or len(raw) > 18:
        raise BadParameter(name, f"{raw[:40]!r} is not an id")
    return int(raw)
