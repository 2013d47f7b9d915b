"""Watchlist entities (config/watchlist.toml) and finding them in articles (pure).

Each entity has a name, a kind, aliases (other spellings, transliterations, native scripts),
optional tags and a note. One Aho-Corasick automaton (pyahocorasick) holds every alias of every
entity, so a text is scanned once however long the list grows.

How a text and the aliases are compared:

- both are folded the same way, character for character so that offsets still point into the
  original: lower case (scripts without case are unchanged), quotation marks and apostrophes
  (' ’ " « » „ “ ” ‹ ›) read as spaces, dashes (‐ ‑ ‒ – — ―) as "-", and runs of white space as one
  space; "ЧВК «Вагнер»" and "ЧВК Вагнер", "Spacety’s" and "Spacety's" are the same;
- an alias matches whole words: the characters before and after it must not be letters or
  digits. An alias ending in "*" may continue into a longer word (Вагнер* finds Вагнера and
  Вагнеру: Russian declines names, and a list of every case ending would be long);
- Chinese and Japanese are written without spaces between words, so an edge of an alias that is a
  CJK character needs no boundary: 天仪研究院 is found inside 长沙天仪研究院发布. Such aliases are
  matched as substrings, so they should be specific (a full name, four characters or more);
- where aliases overlap, the longest one starting first wins (leftmost-longest), so "Spacety
  Luxembourg" is one mention of that entity, not also one of "Spacety".
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from pipeline.config.tomlfile import array_of_tables, numbered_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.models import EntityMatch

_KEYS = {"name", "kind", "aliases", "tags", "note"}
_KIND_RE = re.compile(r"^[a-z][a-z_ -]*$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
EVIDENCE_CHARS = 90  # context kept on each side of the first mention

_QUOTES = "'\"’‘‚‛“”„‟«»‹›`´"
_DASHES = "‐‑‒–—―−"
_TRANS = {ord(c): " " for c in _QUOTES} | {ord(c): "-" for c in _DASHES}
_ONE_SPACE = re.compile(r"[^\S ]")  # any white space but a plain space
_RUNS = re.compile(r" {2,}")


def _is_cjk(ch: str) -> bool:
    """Whether a character belongs to a script written without spaces (Han, kana)."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
    )


def _is_word(ch: str) -> bool:
    return (ch.isalnum() or ch == "_") and not _is_cjk(ch)


@dataclass(frozen=True)
class Folded:
    """A text folded for matching, with the way back to the original's offsets."""

    text: str
    marks: tuple[int, ...] = (0,)  # folded positions where the offset to the original changes
    shifts: tuple[int, ...] = (0,)  # original minus folded position from each mark on

    def original(self, pos: int) -> int:
        """The original offset of a folded position."""
        return pos + self.shifts[bisect.bisect_right(self.marks, pos) - 1]


def fold(text: str) -> Folded:
    """Lower case, quotes as spaces, dashes as '-', white space runs as one space."""
    t = _ONE_SPACE.sub(" ", text.translate(_TRANS))
    low = t.lower()
    if len(low) != len(t):  # a few characters lower into two (İ): keep those as they are
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in t)
    if "  " not in low:
        return Folded(low)
    parts, marks, shifts = [], [0], [0]
    last, removed = 0, 0
    for m in _RUNS.finditer(low):
        parts.append(low[last : m.start() + 1])
        removed += m.end() - m.start() - 1
        last = m.end()
        marks.append(m.start() + 1 - (removed - (m.end() - m.start() - 1)))
        shifts.append(removed)
    parts.append(low[last:])
    return Folded("".join(parts), tuple(marks), tuple(shifts))


@dataclass(frozen=True)
class WatchEntity:
    """One entity of the watchlist."""

    name: str
    kind: str
    aliases: tuple[str, ...]  # the name first
    tags: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class _Alias:
    entity: int
    text: str  # as written in the file
    length: int  # folded length
    left: bool  # needs a word boundary before it
    right: bool  # needs a word boundary after it


@dataclass
class Watchlist:
    """The entities of a watchlist file and the automaton that finds them."""

    entities: tuple[WatchEntity, ...] = ()
    source: str = ""
    _automaton: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.entities and self._automaton is None:
            self._automaton = _build(self.entities, self.source)

    @property
    def names(self) -> tuple[str, ...]:
        """Entity names in file order."""
        return tuple(e.name for e in self.entities)

    def entity(self, name: str) -> WatchEntity | None:
        """The entity of this name (exact), or None."""
        return next((e for e in self.entities if e.name == name), None)

    def tagged(self, tag: str) -> set[str]:
        """Names of the entities that carry a tag."""
        return {e.name for e in self.entities if tag in e.tags}

    def find(self, text: str) -> list[tuple[int, int, int, str]]:
        """Mentions in a text: (entity index, start, end, alias) with original offsets."""
        if not self.entities or not text:
            return []
        folded = fold(text)
        hits = []
        t = folded.text
        for end, alias in self._automaton.iter(t):
            start = end - alias.length + 1
            if alias.left and start > 0 and _is_word(t[start - 1]):
                continue
            if alias.right and end + 1 < len(t) and _is_word(t[end + 1]):
                continue
            hits.append((start, end + 1, alias))
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        out, reach = [], -1
        for start, end, alias in hits:
            if start < reach:
                continue  # inside a longer mention that starts earlier or at the same place
            reach = end
            out.append(
                (alias.entity, folded.original(start), folded.original(end - 1) + 1, alias.text)
            )
        return out

    def match(self, title: str, text: str) -> tuple[EntityMatch, ...]:
        """The entities an article names, by first mention: mentions in title and text, the
        first offset in the text (None when only the title names it) and the words around it."""
        if not self.entities:
            return ()
        found: dict[int, dict[str, Any]] = {}
        for ent, start, end, alias in self.find(text):
            f = found.setdefault(ent, {"n": 0, "first": (start, end), "aliases": []})
            f["n"] += 1
            if alias not in f["aliases"]:
                f["aliases"].append(alias)
        for ent, _start, _end, alias in self.find(title):
            f = found.setdefault(ent, {"n": 0, "first": None, "aliases": []})
            f["n"] += 1
            if alias not in f["aliases"]:
                f["aliases"].append(alias)
        order = sorted(
            found, key=lambda e: (found[e]["first"] is None, (found[e]["first"] or (0, 0))[0], e)
        )
        out = []
        for ent in order:
            f = found[ent]
            first = f["first"]
            evidence = snippet(text, *first) if first else " ".join(title.split())
            out.append(
                EntityMatch(
                    self.entities[ent].name,
                    f["n"],
                    first[0] if first else None,
                    evidence,
                    tuple(f["aliases"]),
                )
            )
        return tuple(out)


def snippet(text: str, start: int, end: int, width: int = EVIDENCE_CHARS) -> str:
    """The words around text[start:end], at most `width` characters each side, on one line."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    # Never cut a word in two (CJK characters are words of their own).
    while lo < start and lo > 0 and _is_word(text[lo - 1]) and _is_word(text[lo]):
        lo += 1
    while hi > end and hi < len(text) and _is_word(text[hi - 1]) and _is_word(text[hi]):
        hi -= 1
    out = ("…" if lo > 0 else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")
    return " ".join(out.split())


def _build(entities: tuple[WatchEntity, ...], source: str) -> Any:
    automaton = ahocorasick.Automaton()
    owner: dict[str, tuple[int, str]] = {}
    for i, entity in enumerate(entities):
        for alias in entity.aliases:
            wild = alias.endswith("*")
            key = fold(alias[:-1] if wild else alias).text.strip()
            if len(key) < 2:
                raise ConfigError(
                    f"{source}: entity {entity.name!r}: alias {alias!r} is too short "
                    f"to match reliably"
                )
            if key in owner:
                other, written = owner[key]
                if other == i:
                    continue  # the same spelling twice after folding (ЧВК «Вагнер», ЧВК Вагнер)
                raise ConfigError(
                    f"{source}: alias {alias!r} of {entity.name!r} is also "
                    f"{written!r} of {entities[other].name!r}; an alias may name "
                    f"one entity only"
                )
            owner[key] = (i, alias)
            automaton.add_word(
                key, _Alias(i, alias, len(key), _is_word(key[0]), not wild and _is_word(key[-1]))
            )
    automaton.make_automaton()
    return automaton


def _strings(
    item: dict, key: str, where: str, pattern: re.Pattern | None = None
) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: {key} must be a list of non-empty strings")
    if pattern is not None:
        bad = [v for v in value if not pattern.match(v)]
        if bad:
            raise ConfigError(f"{where}: {key} {bad[0]!r}: use lower-case letters, digits, - and _")
    return tuple(v.strip() for v in value)


def load_watchlist(path: Path | None) -> Watchlist:
    """Read and validate the watchlist file; no file (or no path) is an empty watchlist."""
    if path is None or not Path(path).is_file():
        return Watchlist(source=str(path or ""))
    items = array_of_tables(path, read_toml(path, "watchlist file"), "entities")
    entities, names = [], set()
    for where, item in numbered_tables(path, items, "entities"):
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: name is required (a non-empty string)")
        name = name.strip()
        where = f"{path}: entity {name!r}"
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_KEYS))}"
            )
        if name.casefold() in names:
            raise ConfigError(f"{where}: defined twice")
        names.add(name.casefold())
        kind = item.get("kind")
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise ConfigError(
                f"{where}: kind is required: a lower-case word such as "
                f"organisation, person, place, vessel or programme"
            )
        note = item.get("note", "")
        if not isinstance(note, str):
            raise ConfigError(f"{where}: note must be a string")
        aliases = (name,) + tuple(a for a in _strings(item, "aliases", where) if a != name)
        entities.append(
            WatchEntity(name, kind, aliases, _strings(item, "tags", where, _TAG_RE), note.strip())
        )
    return Watchlist(tuple(entities), source=str(path))


def watchlist_mark(path: Path | None) -> tuple:
    """What tells an edited watchlist file from the one loaded: its path and mtime."""
    try:
        return (str(path), Path(path).stat().st_mtime_ns) if path else ("",)
    except OSError:
        return (str(path), None)
