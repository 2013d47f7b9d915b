"""The topics file (config/topics.toml): reading and checking it, and the patterns its keywords
match by (pipeline/tag/topics.py says what the keys mean)."""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config.settings import TopicsSettings
from pipeline.config.tomlfile import array_of_tables, numbered_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.tag.seeds import load_overrides, load_seed
from pipeline.textnorm import UNSPACED_SCRIPT

_SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOPIC_KEYS = {
    "slug",
    "label",
    "description",
    "keywords",
    "context",
    "negative",
    "exemplars",
    "threshold",
    "semantic_weight",
    "sim_floor",
    "sim_ceiling",
    "min_keyword_weight",
    "meaning_alone",
}


@dataclass(frozen=True)
class Term:
    """A keyword or phrase with its weight and the pattern that finds its inflections."""

    text: str
    weight: float
    pattern: re.Pattern
    # What every match begins with, for a substring search of `fold(text)` ('' when nothing
    # is sure): see term_needle.
    needle: str = ""

    def found_in(self, text: str, folded: str) -> bool:
        """Whether the term occurs in `text`, whose fold(...) is `folded`."""
        if not self.needle:
            return self.pattern.search(text) is not None
        # The pattern is tried only where its first word is (fold keeps every position).
        at = folded.find(self.needle)
        while at >= 0:
            if self.pattern.match(text, at):
                return True
            at = folded.find(self.needle, at + 1)
        return False


@dataclass(frozen=True)
class Topic:
    """One topic as configured."""

    slug: str
    label: str
    description: str
    keywords: tuple[Term, ...]
    # Its rule: the topics file's values, else the [topics] default_* settings (load_topics).
    threshold: float
    semantic_weight: float
    sim_floor: float
    sim_ceiling: float
    min_keyword_weight: float
    meaning_alone: float
    context: tuple[Term, ...] = ()
    negative: tuple[Term, ...] = ()
    exemplars: tuple[str, ...] = ()


def _shared_stem(word: str) -> str:
    """The part of a lowercased word that all its inflections begin with (city → cit, use →
    us; say → say)."""
    if re.search(r"[^aeiou]y$", word) or word.endswith("e"):
        return word[:-1]
    return word


def _inflections(word: str) -> str:
    """A regex alternation of a word's common English inflections."""
    low = word.lower()
    w, cut = re.escape(low), _shared_stem(low)
    stem = re.escape(cut)
    forms = {w}
    if cut != low and low.endswith("y"):  # city: cities
        forms |= {f"{stem}ies", f"{stem}ied", f"{w}ing"}
    elif cut != low:  # use: using
        forms |= {f"{w}s", f"{w}d", f"{stem}ing"}
    else:
        forms |= {f"{w}s", f"{w}es", f"{w}ed", f"{w}ing"}
        if re.search(r"[^aeiou][aeiou][bdgmnprt]$", low) and len(word) <= 4:
            last = re.escape(low[-1])
            forms |= {f"{w}{last}ed", f"{w}{last}ing"}
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def term_pattern(term: str) -> re.Pattern:
    """Whole-word, case-insensitive pattern of a keyword or phrase; the last word inflects.

    A term ending in '*' matches any word starting with it (espionage* → espionage-related). A
    term in a script written without spaces (Chinese, Japanese, Thai) matches wherever it occurs.
    """
    words = term.strip().split()
    if not words:
        raise ValueError("empty term")
    if UNSPACED_SCRIPT.search(term):
        return re.compile(r"\s*".join(re.escape(w.rstrip("*")) for w in words), re.IGNORECASE)
    parts = [re.escape(w) for w in words[:-1]]
    last = words[-1]
    if last.endswith("*"):
        parts.append(re.escape(last[:-1]) + r"\w*")
    else:
        parts.append(_inflections(last))
    return re.compile(r"(?<![\w-])" + r"[\s-]+".join(parts) + r"(?![\w])", re.IGNORECASE)


def _case_classes() -> tuple[dict[int, str], bool]:
    """The characters that a case-insensitive `re` pattern takes for one another beyond their
    lowercase (ı for i, ſ for s, ς for σ, ...), each mapped to one of its class; and whether
    that is every script's (else the two that ASCII letters have)."""
    try:  # the table `re` itself compiles case-insensitive patterns by
        extra: dict[int, tuple[int, ...]] = importlib.import_module("re._casefix")._EXTRA_CASES
        complete = True
    except (ImportError, AttributeError):  # pragma: no cover - CPython 3.11 has it
        extra, complete = {ord("i"): (0x131,), ord("s"): (0x17F,)}, False
    parent: dict[int, int] = {}

    def root(c: int) -> int:
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    for lower, others in extra.items():
        for other in others:
            a, b = sorted((root(lower), root(other)))
            parent[b] = a
    return {c: chr(root(c)) for c in parent}, complete


_CLASSES, _ALL_SCRIPTS = _case_classes()


@functools.lru_cache(maxsize=8)
def fold(text: str) -> str:
    """A text lowercased as a case-insensitive `re` pattern compares it, character by character
    (so as long as the text): wherever a term's pattern matches the text, its needle is in the
    folded text at the same position. Cached: each topic folds the same text."""
    if text.isascii():  # no ASCII character is taken for another but its capital
        return text.lower()
    # İ is the one character whose lower() is two characters long; `re` reads it as i.
    return text.replace("\u0130", "i").lower().translate(_CLASSES)


def term_needle(term: str) -> str:
    """What every match of a term's pattern begins with, folded: its first word (of a term of
    one word, the part its inflections share).

    A search by the pattern itself makes `re` try its look-behind at every position of the
    text, for each of a topic's fifty terms; str.find skips to where the term can be, and most
    terms are in no given text.
    """
    # From the very text term_pattern puts first in the pattern, as it writes it.
    words = term.strip().split()
    if not words:
        return ""
    first = words[0]
    if UNSPACED_SCRIPT.search(term):
        first = first.rstrip("*")  # the words follow on at once
    elif len(words) == 1 and first.endswith("*"):
        first = first[:-1]  # spy* matches spyware
    elif len(words) == 1:
        first = _shared_stem(first.lower())  # as _inflections writes it: cities, used
    return fold(first) if _ALL_SCRIPTS or first.isascii() else ""


def _terms(value: Any, where: str) -> tuple[Term, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        value = {t: 1.0 for t in value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of term = weight (or a list of terms)")
    out = []
    for text, weight in value.items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 10:
            raise ConfigError(f"{where}: weight of {text!r} must be a number in (0, 10]")
        try:
            out.append(Term(text, float(weight), term_pattern(text), term_needle(text)))
        except ValueError:
            raise ConfigError(f"{where}: empty term") from None
    return tuple(out)


def _number(item: dict, key: str, default: float, lo: float, hi: float, where: str) -> float:
    value = item.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{where}: {key} must be a number from {lo:g} to {hi:g}")
    return float(value)


def load_topics(
    path: Path, seeds_dir: Path | None = None, defaults: TopicsSettings | None = None
) -> tuple[Topic, ...]:
    """Read and validate the topics file; exemplars may name seed files ("seed:<file>"). A
    topic's rule keys it leaves out take the [topics] default_* settings of `defaults` (the
    schema's when not given)."""
    d = defaults if defaults is not None else TopicsSettings()
    if not path.is_file():
        raise ConfigError(f"{path}: topics file not found ([topics] file)")
    items = array_of_tables(path, read_toml(path, "topics file"), "topics")
    if not items:
        raise ConfigError(f"{path}: define at least one [[topics]] table")
    topics, seen = [], set()
    for where, item in numbered_tables(path, items, "topics"):
        slug = item.get("slug")
        if not isinstance(slug, str) or not _SLUG_RE.match(slug):
            raise ConfigError(
                f"{where}: slug must be lower-case letters, digits and _ (e.g. sanctions)"
            )
        where = f"{path}: topic {slug}"
        bad = set(item) - _TOPIC_KEYS
        if bad:
            raise ConfigError(
                f"{where}: unknown key {sorted(bad)[0]!r}; allowed: "
                f"{', '.join(sorted(_TOPIC_KEYS))}"
            )
        if slug in seen:
            raise ConfigError(f"{where}: defined twice")
        seen.add(slug)
        topics.append(_topic(slug, item, where, seeds_dir, d))
    return tuple(topics)


def _topic(slug: str, item: dict, where: str, seeds_dir: Path | None, d: TopicsSettings) -> Topic:
    """One [[topics]] table (its slug and keys checked already) as a topic."""
    description = item.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{where}: description is required")
    keywords = _terms(item.get("keywords"), f"{where}: keywords")
    if "keywords" in item and not keywords:
        raise ConfigError(f"{where}: keywords must name at least one term (or leave it out)")
    exemplars = _exemplars(item, where, seeds_dir)
    floor = _number(item, "sim_floor", d.default_sim_floor, 0.0, 1.0, where)
    ceiling = _number(item, "sim_ceiling", d.default_sim_ceiling, 0.0, 1.0, where)
    if ceiling <= floor:
        raise ConfigError(f"{where}: sim_ceiling must be above sim_floor")
    return Topic(
        slug=slug,
        label=str(item.get("label") or slug.replace("_", " ").title()),
        description=description.strip(),
        keywords=keywords,
        context=_terms(item.get("context"), f"{where}: context"),
        negative=_terms(item.get("negative"), f"{where}: negative"),
        exemplars=exemplars,
        threshold=_number(item, "threshold", d.default_threshold, 0.0, 1.0, where),
        # A topic of one sentence has no words to weigh: its meaning is its score.
        semantic_weight=_number(
            item,
            "semantic_weight",
            d.default_semantic_weight if keywords else 1.0,
            0.0,
            1.0,
            where,
        ),
        sim_floor=floor,
        sim_ceiling=ceiling,
        min_keyword_weight=_number(
            item, "min_keyword_weight", d.default_min_keyword_weight, 0.0, 100.0, where
        ),
        meaning_alone=_number(item, "meaning_alone", d.default_meaning_alone, 0.0, 1.01, where),
    )


def _exemplars(item: dict, where: str, seeds_dir: Path | None) -> tuple[str, ...]:
    """A topic's exemplar passages, those naming a seed file ("seed:<file>") read from it."""
    exemplars = []
    for ex in item.get("exemplars", []):
        if not isinstance(ex, str) or not ex.strip():
            raise ConfigError(f"{where}: exemplars must be non-empty strings")
        if ex.startswith("seed:"):
            exemplars.append(_seed_text(ex, seeds_dir, where))
        else:
            exemplars.append(ex.strip())
    return tuple(exemplars)


def _seed_text(ref: str, seeds_dir: Path | None, where: str) -> str:
    name = ref.removeprefix("seed:")
    if seeds_dir is None or not (seeds_dir / name).is_file():
        raise ConfigError(f"{where}: exemplar {ref} names no file in the seed folder")
    return load_seed(seeds_dir / name, load_overrides(seeds_dir).get(name)).text
