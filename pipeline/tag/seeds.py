"""The seed corpus: reading seed files, removing site chrome, choosing a title (pure functions).

Seed files are pages copied by hand from news sites, so they carry what the site wrapped around
the article: dates and breadcrumbs above it, comment and popularity boxes and category menus
below it. These are removed line by line; the article's own paragraphs are kept as they are.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.tomlfile import read_toml
from pipeline.errors import ConfigError
from pipeline.textnorm import tidy, word_count

#: Optional per-seed titles and extra furniture lines, beside the seed files.
OVERRIDES_FILE = "seeds.toml"

#: Whole lines that are site furniture, never article text (compared case-insensitively).
CHROME_LINES = frozenset(
    {
        "most popular",
        "recent comments",
        "read more",
        "leave a reply",
        "leave a comment",
        "source link",
        "related posts",
        "related articles",
        "related",
        "share this",
        "share",
        "share this article",
        "advertisement",
        "subscribe",
        "sign up",
        "comments",
        "tags",
        "you may also like",
        "popular posts",
        "trending",
        "follow us",
        "print",
        "email",
        "epoch times photo",
        "-",
        "–",
        "—",
        "•",
        "|",
    }
)
_WEEKDAY_DATE_RE = re.compile(
    r"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
    r"(?:\d{1,2}\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}?,?\s*\d{4}$",
    re.I,
)
_NUMERIC_DATE_RE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")
_EMAIL_RE = re.compile(r"^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")
# "HomeChina NewsUS Treasury ...": breadcrumbs glued together without separators.
_BREADCRUMB_RE = re.compile(r"^Home(?:[A-Z]|\s*[>»/|])")
_MENU_ITEM_RE = re.compile(r"^[-•*]\s*\S.{0,40}$")


@dataclass(frozen=True)
class SeedDoc:
    """A cleaned seed document, ready to be embedded and stored."""

    file_name: str
    url: str
    title: str
    text: str
    file_hash: str


def is_chrome_line(line: str) -> bool:
    """Whether a single line is site furniture (dates, breadcrumbs, boxes, lone e-mails)."""
    stripped = line.strip()
    if not stripped:
        return False
    low = stripped.lower().rstrip(":")
    return (
        low in CHROME_LINES
        or bool(_WEEKDAY_DATE_RE.match(stripped))
        or bool(_NUMERIC_DATE_RE.match(stripped))
        or bool(_BREADCRUMB_RE.match(stripped))
        or bool(_EMAIL_RE.match(stripped))
    )


def _drop_menus(lines: list[str]) -> list[str]:
    """Remove runs of four or more short bullet lines: category menus, not prose."""
    out: list[str] = []
    run: list[str] = []
    for line in lines + [""]:
        if _MENU_ITEM_RE.match(line.strip()) and word_count(line) <= 4:
            run.append(line)
            continue
        if len(run) < 4:
            out.extend(run)
        run = []
        out.append(line)
    return out[:-1]


@dataclass(frozen=True)
class SeedOverride:
    """What `seeds.toml` says about one seed file."""

    title: str | None = None
    strip: tuple[str, ...] = ()


def clean_text(raw: str, strip: tuple[str, ...] = ()) -> str:
    """Strip site chrome from a copied page, keeping the article's paragraphs."""
    lines = tidy(raw).split("\n")
    lines = [
        line
        for line in _drop_menus(lines)
        if not is_chrome_line(line) and not any(line.strip().startswith(prefix) for prefix in strip)
    ]
    return tidy("\n".join(lines))


def _looks_like_headline(line: str) -> bool:
    n = word_count(line)
    return 3 <= n <= 25 and not line.rstrip().endswith((".", ":", ";", ","))


def _shorten(sentence: str, limit: int = 110) -> str:
    if len(sentence) <= limit:
        return sentence.rstrip(" .")
    cut = sentence[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def split_title(text: str) -> tuple[str, str]:
    """Title and body of a cleaned text: the first headline-like line, else the first sentence."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return "", ""
    first = lines[0].strip()
    if _looks_like_headline(first):
        body_lines = text.split("\n")
        idx = next(i for i, line in enumerate(body_lines) if line.strip())
        body = tidy("\n".join(body_lines[idx + 1 :]))
        # A page often repeats its headline right below the breadcrumb line.
        if body.startswith(first):
            body = tidy(body[len(first) :])
        return first, body or text
    sentence = re.split(r"(?<=[.!?])\s+", first, maxsplit=1)[0]
    return _shorten(sentence), text


def load_overrides(folder: Path) -> dict[str, SeedOverride]:
    """Per-file titles and strip lists from `seeds.toml` in the seed folder (if present)."""
    path = folder / OVERRIDES_FILE
    if not path.is_file():
        return {}
    data = read_toml(path, "seed notes")
    out: dict[str, SeedOverride] = {}
    for i, item in enumerate(data.get("seed", [])):
        where = f"{path}: [[seed]] #{i + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise ConfigError(f'{where}: needs file = "<name>.txt"')
        unknown = set(item) - {"file", "title", "strip"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]}; allowed: file, title, strip"
            )
        title = item.get("title")
        strip = item.get("strip", [])
        if title is not None and not isinstance(title, str):
            raise ConfigError(f"{where}: title must be a string")
        if not isinstance(strip, list) or not all(isinstance(s, str) and s for s in strip):
            raise ConfigError(f"{where}: strip must be a list of non-empty strings")
        out[item["file"]] = SeedOverride(title=title, strip=tuple(strip))
    return out


def load_seed(path: Path, override: SeedOverride | None = None) -> SeedDoc:
    """Read one seed file: clean it and pick its title."""
    override = override or SeedOverride()
    raw_bytes = path.read_bytes()
    raw = raw_bytes.decode("utf-8", errors="replace")
    title, body = split_title(clean_text(raw, override.strip))
    if override.title:
        title = override.title
    # The file hash covers the override too, so editing seeds.toml also updates the seed.
    digest = hashlib.sha256(raw_bytes + repr((override.title, override.strip)).encode())
    return SeedDoc(
        file_name=path.name,
        url=f"seed:{path.name}",
        title=title or path.stem,
        text=body,
        file_hash=digest.hexdigest(),
    )


def load_seeds(folder: Path) -> list[SeedDoc]:
    """Every seed of a folder, cleaned and titled, in file-name order."""
    overrides = load_overrides(folder)
    return [load_seed(p, overrides.get(p.name)) for p in seed_files(folder)]


def seed_files(folder: Path) -> list[Path]:
    """The seed documents of a folder, in name order."""
    return sorted(p for p in folder.glob("*.txt") if p.is_file())


def seeds_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every file the seed corpus is read from: a change
    means the seeds may have changed (cheap: no file is read)."""
    files = seed_files(folder) + [p for p in (folder / OVERRIDES_FILE,) if p.is_file()]
    out = []
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)
