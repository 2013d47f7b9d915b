"""The article-extraction-benchmark's text metric, as its evaluate.py computes it.

Tokens are `\\w+` runs (case kept); shingles are 4-token tuples counted as a multiset. Per page,
true/false positives and false negatives are normalised by their sum (long pages weigh no more
than short ones); precision and recall are averaged over pages, and F1 is computed from the two
means.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """Multiset of n-token shingles (a text shorter than n gives one shorter shingle)."""
    tokens = _TOKEN_RE.findall(text or "")
    out: Counter[tuple[str, ...]] = Counter()
    for i in range(max(1, len(tokens) - n + 1)):
        gram = tuple(tokens[i : i + n])
        if gram:
            out[gram] += 1
    return out


def page_counts(pred: str, truth: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page."""
    t, p = shingles(truth), shingles(pred)
    tp = fp = fn = 0.0
    for key in set(t) | set(p):
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


def page_score(pred: str, truth: str) -> tuple[float, float]:
    """Precision and recall of one page."""
    c = page_counts(pred, truth)
    return _precision(*c), _recall(*c)


def corpus_score(pairs: Iterable[tuple[str, str]]) -> tuple[float, float, float]:
    """(precision, recall, F1) over (predicted, true) text pairs."""
    counts = [page_counts(pred, truth) for pred, truth in pairs]
    precision = statistics.mean([_precision(*c) for c in counts if c[0] + c[1] > 0] or [0.0])
    recall = statistics.mean([_recall(*c) for c in counts if c[0] + c[2] > 0] or [0.0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
