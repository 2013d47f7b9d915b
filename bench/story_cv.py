"""Cross-validation of the story constants over the development pairs (bench/story_eval.py --cv).

The pairs (English and de/es/pl/zh-en) are dealt into `k` folds by pair (each language pair and
label spread evenly, pipeline/testkit/storypairs.folds). Every candidate rule of a small grid is
replayed (bench/story_replay.py: the pipeline's decisions over cached vectors) in both arrival
orders; for each fold the constants are chosen on the other folds only (the most same-story
pairs joined in the worse order while unrelated joins stay within the cap in both orders, on the
same-day arrival schedule and on the days-apart one), and the held-out fold is scored by a
replay with the constants chosen, on both schedules. English constants are chosen on the
English pairs, the cross-lingual ones on the cross-lingual pairs.
"""

from __future__ import annotations

import ast
import hashlib
import pickle
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product, takewhile
from pathlib import Path
from typing import Any

from story_cycle import ROOT, Schedule, schedule_of
from story_replay import Corpus, cache_path, collect, joined, replay

from pipeline.config.settings import DedupSettings
from pipeline.testkit.storypairs import StoryPair, folds

#: Unrelated pairs a rule may join, as a share of those judged (the issue's goal).
CAP = {"en-en": 0.015, "cross-lingual": 0.02}


@dataclass(frozen=True)
class Candidate:
    """Story constants to try: [dedup] settings and module constants of the centering."""

    settings: tuple[tuple[str, Any], ...] = ()
    constants: tuple[tuple[str, Any], ...] = ()

    def label(self) -> str:
        """The constants as key=value pairs."""
        return " ".join(f"{k}={v}" for k, v in (*self.settings, *self.constants)) or "shipped"

    def merged(self, other: Candidate) -> Candidate:
        """This candidate with another's constants added (theirs win)."""
        return Candidate(
            tuple({**dict(self.settings), **dict(other.settings)}.items()),
            tuple({**dict(self.constants), **dict(other.constants)}.items()),
        )

    def apply(self, base: DedupSettings) -> DedupSettings:
        """The [dedup] settings of this candidate."""
        return replace(base, **dict(self.settings))


def grid(
    settings: Mapping[str, Sequence[Any]], constants: Mapping[str, Sequence[Any]] | None = None
):
    """Every combination of the values given, as candidates."""
    constants = constants or {}
    keys, ckeys = list(settings), list(constants)
    out = []
    for values in product(*(settings[k] for k in keys), *(constants[k] for k in ckeys)):
        out.append(
            Candidate(
                tuple(zip(keys, values[: len(keys)], strict=True)),
                tuple(zip(ckeys, values[len(keys) :], strict=True)),
            )
        )
    return out


@dataclass
class Count:
    """Same-story and unrelated pairs joined, of how many."""

    same: int = 0
    n_same: int = 0
    unrelated: int = 0
    n_unrelated: int = 0

    def add(self, label: str, was_joined: bool) -> None:
        if label == "same":
            self.same += was_joined
            self.n_same += 1
        elif label == "unrelated":
            self.unrelated += was_joined
            self.n_unrelated += 1

    @property
    def same_rate(self) -> float:
        return self.same / max(1, self.n_same)

    @property
    def unrelated_rate(self) -> float:
        return self.unrelated / max(1, self.n_unrelated)


def kind_of(p: StoryPair) -> str:
    """'en-en' or 'cross-lingual'."""
    return "en-en" if p.lang1 == p.lang2 == "en" else "cross-lingual"


def count(
    pairs: Sequence[StoryPair], decided: Mapping[str, bool], kind: str, keep: Callable[[str], bool]
) -> Count:
    """The figures of one kind of pair over the pairs `keep` selects."""
    c = Count()
    for p in pairs:
        if kind_of(p) == kind and keep(p.pair_id) and p.pair_id in decided:
            c.add(p.label, decided[p.pair_id])
    return c


@dataclass
class Runs:
    """Replays of candidates in both orders, made once each."""

    corpus: Corpus
    pairs: Sequence[StoryPair]
    base: DedupSettings
    schedules: Mapping[str, Schedule]
    done: dict[Candidate, dict[str, dict[str, bool]]] = field(default_factory=dict)

    def __call__(self, cand: Candidate) -> dict[str, dict[str, bool]]:
        """{order: {pair id: joined}} of a candidate."""
        if cand not in self.done:
            self.done[cand] = {
                order: joined(
                    self.pairs,
                    replay(self.corpus, schedule, cand.apply(self.base), dict(cand.constants)),
                )
                for order, schedule in self.schedules.items()
            }
        return self.done[cand]


@dataclass(frozen=True)
class Group:
    """Constants chosen together, on the pairs of one kind ('all': both kinds, each within its
    cap, the most same-story pairs of the two together)."""

    name: str
    kind: str
    candidates: tuple[Candidate, ...]


def within_cap(counts: Sequence[Sequence[Count]], kinds: Sequence[str]) -> bool:
    """Whether unrelated joins stay within the cap for every kind, in every order."""
    return all(
        c.unrelated <= CAP[kind] * c.n_unrelated
        for cs in counts
        for kind, c in zip(kinds, cs, strict=True)
    )


def choose(
    runs: Runs, group: Group, train: Callable[[str], bool], also: Sequence[Runs] = ()
) -> Candidate:
    """The candidate that joins the most same-story pairs of the training folds in its worse
    order with unrelated joins within the cap in both orders, on `runs`' schedule and on every
    schedule of `also` (replayed only for the candidates that come first otherwise); on a tie
    the fewer unrelated joins, then the more same-story pairs joined on the schedules of
    `also`, then the earlier candidate (grids list the shipped values first). Where no
    candidate stays within the cap everywhere (joins no constant of the group moves can break
    it), the one with the fewest unrelated joins over every schedule, then the most same-story
    pairs on `runs`' schedule, then on the others', then the earlier."""
    kinds = list(CAP) if group.kind == "all" else [group.kind]

    def counts_of(r: Runs, cand: Candidate) -> list[list[Count]]:
        return [[count(r.pairs, d, kind, train) for kind in kinds] for d in r(cand).values()]

    def same_of(counts: list[list[Count]]) -> int:
        return min(sum(c.same for c in cs) for cs in counts)

    def unrelated_of(counts: list[list[Count]]) -> int:
        return sum(c.unrelated for cs in counts for c in cs)

    ranked = []
    for k, cand in enumerate(group.candidates):
        counts = counts_of(runs, cand)
        if not within_cap(counts, kinds):
            continue
        ranked.append(((same_of(counts), -unrelated_of(counts)), -k, cand))
    ranked.sort(key=lambda sc: sc[:2], reverse=True)
    passing = (
        (key, k, cand)
        for key, k, cand in ranked
        if all(within_cap(counts_of(other, cand), kinds) for other in also)
    )
    first = next(passing, None)
    if first is not None:
        # A tie on `runs`' schedule (tied candidates follow the first in `ranked`) goes to the
        # candidate that joins more same-story pairs on the others' (a constant that matters
        # only when reports arrive days apart), then to the earlier candidate.
        tied = [first, *takewhile(lambda r: r[0] == first[0], passing)]
        return max(tied, key=lambda r: (sum(same_of(counts_of(o, r[2])) for o in also), r[1]))[2]
    fewest = []
    for k, cand in enumerate(group.candidates):
        every = [counts_of(runs, cand)] + [counts_of(other, cand) for other in also]
        fewest.append(
            (
                (
                    -sum(unrelated_of(c) for c in every),
                    same_of(every[0]),
                    sum(same_of(c) for c in every[1:]),
                    -k,
                ),
                cand,
            )
        )
    return max(fewest, key=lambda sc: sc[0])[1]


@dataclass(frozen=True)
class FoldResult:
    fold: int
    chosen: Candidate
    held_out: dict[str, dict[str, Count]]  # {order: {kind: Count}}


def cross_validate(
    runs: Runs,
    folds: Mapping[str, int],
    groups: Sequence[Group],
    scored_by: Runs | None = None,
    also: Sequence[Runs] = (),
) -> list[FoldResult]:
    """Per fold: each group's constants chosen on the other folds (the other groups at their
    shipped values; unrelated joins within the cap on the schedules of `also` too), the
    held-out fold scored by a replay of all the choices together (by `scored_by`, another
    arrival schedule, when given)."""
    k = max(folds.values()) + 1
    out = []
    for f in range(k):

        def train(pair_id: str, f: int = f) -> bool:
            return folds.get(pair_id, -1) != f

        def held(pair_id: str, f: int = f) -> bool:
            return folds.get(pair_id, -1) == f

        chosen = Candidate()
        for group in groups:
            chosen = chosen.merged(choose(runs, group, train, also))
        decided = (scored_by or runs)(chosen)
        out.append(
            FoldResult(
                f,
                chosen,
                {
                    order: {kind: count(runs.pairs, d, kind, held) for kind in CAP}
                    for order, d in decided.items()
                },
            )
        )
    return out


def spread(values: Sequence[float]) -> str:
    """Mean ± standard deviation (min-max) of per-fold rates, in per cent."""
    mean = statistics.mean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return (
        f"{100 * mean:5.1f} ± {100 * sd:4.1f} % ({100 * min(values):.0f}-{100 * max(values):.0f})"
    )


def summary(results: Sequence[FoldResult]) -> list[str]:
    """Lines: per kind and order, the held-out same-story and unrelated rates across folds and
    the pooled counts."""
    lines = []
    for kind in CAP:
        for order in results[0].held_out:
            per = [r.held_out[order][kind] for r in results]
            same = sum(c.same for c in per), sum(c.n_same for c in per)
            unrel = sum(c.unrelated for c in per), sum(c.n_unrelated for c in per)
            lines.append(
                f"  {kind:13} {order:8} same-story joined {spread([c.same_rate for c in per])}"
                f" [{same[0]}/{same[1]}]   unrelated joined "
                f"{spread([c.unrelated_rate for c in per])} [{unrel[0]}/{unrel[1]}]"
            )
    return lines


# -- the run ---------------------------------------------------------------------------------

#: The constants tried, group by group (the shipped values first: a tie keeps them). English
#: thresholds on the English pairs; the English pairs' lead rule on both kinds (1.0 turns it
#: off; its links outrank cross-lingual ones by their lead cosine); what makes an English member
#: unlike a new article, on both kinds (-1 turns it off; an English link whose openings are
#: unlike ranks below one across languages); the lead rules on the
#: cross-lingual ones (a lead minimum of 1.0 turns the lead+specifics rule off); the bridge and
#: retelling rules on both; the centering on the cross-lingual pairs.
GROUPS = {
    "english": (
        "en-en",
        {
            "story_similarity": (0.72, 0.70, 0.74),
            "story_min_similarity": (0.55, 0.50, 0.60),
            "story_combined_score": (0.81, 0.78, 0.84),
            "story_headline_similarity": (0.66, 0.62, 0.70),
        },
        {},
    ),
    "english_lead": ("all", {"story_english_lead": (0.45, 0.4, 0.35, 0.5, 1.0)}, {}),
    "unlike": ("all", {"story_unlike_lead": (0.25, 0.2, 0.22, 0.28, 0.3, -1.0)}, {}),
    "lead": (
        "cross-lingual",
        {
            "story_lead_similarity": (0.35, 0.34, 0.32, 0.36, 0.38),
            "story_lead_min_similarity": (0.22, 0.18, 0.26, 1.0),
            "story_specifics_overlap": (0.25, 0.2, 0.3, 0.35),
        },
        {},
    ),
    "bridge": (
        "all",
        {
            "story_support_from": (3, 4, 5),
            "story_support_similarity": (0.5, 0.45, 0.55),
            "story_lead_support_gap": (0.1, 0.05, 0.15),
            "story_lead_alone": (0.5, 0.45, 0.6),
        },
        {},
    ),
    "centering": (
        "cross-lingual",
        {},
        {
            "EARLY_MARGIN": (0.15, 0.10, 0.20),
            "PRIOR_WEIGHT": (20, 10, 40),
            "DOMAIN_PRIOR": (30, 15, 60),
        },
    ),
}
CV_CACHE = ROOT / "bench" / "out" / "story-cv"


def fingerprint(corpus_path: Path, base: DedupSettings | None = None) -> str:
    """What replays depend on besides the candidate: the decision code, the corpus and the
    [dedup] settings a candidate leaves at their values (a changed default replays anew)."""
    h = hashlib.sha256(corpus_path.name.encode())
    if base is not None:
        h.update(repr(base).encode())
    for path in sorted((ROOT / "pipeline" / "dedup").glob("*.py")) + [
        ROOT / "bench" / "story_replay.py"
    ]:
        h.update(_code_of(path.read_text(encoding="utf-8")).encode())
    return h.hexdigest()[:16]


def _code_of(source: str) -> str:
    """A module's code without its comments and docstrings (the parsed tree): an edit of the
    prose replays nothing anew."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def load_runs(runs: Runs, path: Path) -> None:
    """Replays made by an earlier run of the same code on the same corpus."""
    if path.exists():
        with path.open("rb") as fh:
            runs.done.update(pickle.load(fh))


def save_runs(runs: Runs, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(runs.done, fh)
    tmp.replace(path)


def groups_of(names: Sequence[str]) -> list[Group]:
    """The named groups of constants, as candidates."""
    return [
        Group(name, GROUPS[name][0], tuple(grid(GROUPS[name][1], GROUPS[name][2])))
        for name in names
    ]


def per_fold(results: Sequence[FoldResult]) -> list[str]:
    """Lines: each fold's held-out counts, per kind and order (same-story / unrelated joined)."""
    lines = []
    for r in results:
        cells = [
            f"{kind} {order} {c.same}/{c.n_same} {c.unrelated}/{c.n_unrelated}"
            for kind in CAP
            for order, by_kind in r.held_out.items()
            for c in [by_kind[kind]]
        ]
        lines.append(f"  fold {r.fold}: " + "; ".join(cells))
    return lines


#: The arrival schedules every candidate's unrelated joins are capped on (the first ranks them).
SCHEDULES = ("same-day", "days-apart")


def run_cv(
    pairs: Sequence[StoryPair],
    base: DedupSettings,
    k: int,
    backend: str,
    names: Sequence[str] = tuple(GROUPS),
) -> list[FoldResult]:
    """Print the cross-validated figures: the shipped constants per fold, then the constants
    chosen on the training folds, each held-out fold scored by its own choice on both arrival
    schedules. Candidates are ranked on the same-day schedule and kept only if their unrelated
    joins stay within the cap on the days-apart one too (replayed for the few that come
    first). Returns the same-day held-out results."""
    corpus = collect(pairs, backend)
    fold_of = folds(pairs, k)
    groups = groups_of(names)

    def runs_on(plan: str) -> tuple[Runs, Path]:
        schedules = {
            order: schedule_of(list(pairs), order == "reverse", plan, base.story_window_days)
            for order in ("forward", "reverse")
        }
        runs = Runs(corpus, pairs, base, schedules)
        key = fingerprint(cache_path(pairs, backend, True), base)
        path = CV_CACHE / f"runs-{key}-{plan}.pkl"
        load_runs(runs, path)
        return runs, path

    plans = {plan: runs_on(plan) for plan in SCHEDULES}
    runs, path = plans[SCHEDULES[0]]
    others = [plans[plan][0] for plan in SCHEDULES[1:]]
    t0 = time.perf_counter()
    todo = [c for g in groups for c in g.candidates if c not in runs.done]
    for n, cand in enumerate(dict.fromkeys(todo), 1):
        runs(cand)
        if n % 10 == 0 or n == len(todo):
            save_runs(runs, path)
            print(f"  replayed {n} of {len(todo)} candidates ({time.perf_counter() - t0:.0f} s)")
    print(
        f"\n{k} folds by pair (development set); constants ranked on the same-day schedule, "
        f"unrelated joins capped on {' and '.join(SCHEDULES)}"
    )
    out: list[FoldResult] = []
    for plan in SCHEDULES:
        scored = plans[plan][0]
        shipped = cross_validate(runs, fold_of, [], scored)
        chosen = cross_validate(runs, fold_of, groups, scored, others)
        for r, p in plans.values():
            save_runs(r, p)
        print(f"\nheld-out folds on the {plan} schedule")
        print("shipped constants (chosen on all pairs: not a cross-validated figure)")
        print("\n".join(summary(shipped)))
        print("\n".join(per_fold(shipped)))
        print(f"constants chosen on the training folds ({', '.join(names)}): cross-validated")
        print("\n".join(summary(chosen)))
        print("\n".join(per_fold(chosen)))
        for r in chosen:
            print(f"  fold {r.fold}: {r.chosen.label()}")
        out = out or chosen
    return out
