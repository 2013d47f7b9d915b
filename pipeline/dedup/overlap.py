"""Text overlap: shingle sets, their Jaccard and containment, whether an overlap makes a copy,
and the invariant that every stored duplicate overlaps its `duplicate_of` (`dedup --verify`).

Pure functions of texts and settings; the dedup index (pipeline/dedup/index.py) decides with them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.errors import NewswatchError
from pipeline.models import StoredDuplicate
from pipeline.textnorm import content_hash, words


@dataclass(frozen=True)
class Overlap:
    """Shingle overlap of a new text with a stored one."""

    jaccard: float
    contained: float  # share of the new text found in the stored one
    contains: float  # share of the stored text found in the new one


def shingle_hashes(text: str, size: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the text's `size`-word shingles (case and punctuation
    ignored); a text shorter than `size` words gives one shingle of all its words.

    The same text gives the same hashes in every process and every run: the MinHash sketches
    made of them choose which stored texts are compared at all, so a salted hash (Python's own
    `hash` of a string) made a copy near the LSH threshold found in one run and missed in the
    next. Each word is hashed once (BLAKE2b, kept for the words seen most), and a shingle's hash
    is a polynomial of its words' hashes, mixed, in numpy: as fast as `hash` of the joined words.
    """
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    size = min(size, len(tokens))
    n = len(tokens) - size + 1
    per_word = np.fromiter((_word_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        hashes = np.zeros(n, dtype=np.uint64)
        for j in range(size):
            hashes = hashes * _MULTIPLIER + per_word[j : j + n]
        hashes ^= hashes >> np.uint64(31)  # splitmix64's finaliser: every bit depends on all
        hashes *= np.uint64(0x94D049BB133111EB)
        hashes ^= hashes >> np.uint64(29)
    return np.unique(hashes)


_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@functools.lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def overlap(new: np.ndarray, old: np.ndarray) -> Overlap:
    """Jaccard and containment of two shingle sets."""
    if new.size == 0 or old.size == 0:
        return Overlap(0.0, 0.0, 0.0)
    inter = np.intersect1d(new, old, assume_unique=True).size
    union = new.size + old.size - inter
    return Overlap(inter / union, inter / new.size, inter / old.size)


def confirm(
    o: Overlap, new_size: int, old_size: int, settings: DedupSettings
) -> tuple[str, float] | None:
    """Whether an overlap makes a duplicate: the strongest (kind, similarity) that holds, or
    None."""
    held = []
    if o.jaccard >= settings.jaccard_threshold:
        held.append(("near", o.jaccard))
    if (
        new_size >= settings.containment_min_shingles
        and o.contained >= settings.containment_threshold
    ):
        held.append(("contained", o.contained))
    if (
        old_size >= settings.containment_min_shingles
        and o.contains >= settings.containment_threshold
    ):
        held.append(("contains", o.contains))
    return max(held, key=lambda kv: kv[1]) if held else None


class OverlapInvariantError(NewswatchError):
    """Some stored duplicates do not overlap the article their duplicate_of names."""


@dataclass(frozen=True)
class Violation:
    """A duplicate whose duplicate_of does not overlap it under the current settings."""

    id: int
    duplicate_of: int
    kind: str | None
    overlap: Overlap | None  # None: duplicate_of names no stored article


@dataclass(frozen=True)
class OverlapCheck:
    """How many duplicates were checked and which of them break the invariant."""

    checked: int
    violations: list[Violation]


def overlap_violation(dup: StoredDuplicate, settings: DedupSettings) -> Violation | None:
    """Recompute a duplicate's overlap with its duplicate_of: a Violation unless it confirms."""
    if dup.original_text is None:
        return Violation(dup.id, dup.duplicate_of, dup.kind, None)
    new = shingle_hashes(dup.text, settings.shingle_size)
    old = shingle_hashes(dup.original_text, settings.shingle_size)
    o = overlap(new, old)
    if confirm(o, new.size, old.size, settings) is not None:
        return None
    # The same normalised text overlaps by definition, even one too short to shingle.
    if content_hash(dup.text) == content_hash(dup.original_text):
        return None
    return Violation(dup.id, dup.duplicate_of, dup.kind, o)


def check_overlaps(duplicates: Iterable[StoredDuplicate], settings: DedupSettings) -> OverlapCheck:
    """The invariant over stored duplicates: each one's duplicate_of confirmably overlaps it."""
    checked, violations = 0, []
    for dup in duplicates:
        checked += 1
        violation = overlap_violation(dup, settings)
        if violation is not None:
            violations.append(violation)
    return OverlapCheck(checked, violations)
