"""Values spelled into SQL text, where DuckDB's Python client or planner does worse with a
parameter: id lists and vectors (shared by the queries of search and the reading room)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def id_literal(ids: Iterable[int]) -> str:
    """Ids as a literal list for `... IN <list>` (see `id_match` for `articles`)."""
    return "(" + ",".join(str(int(i)) for i in ids) + ")"


# Ids closer than a vector of rows (DuckDB reads 2,048 rows at a time) share one range.
_RUN = 2048
# Most ranges in one condition: DuckDB tests each range on every row it reads, so past some
# tens of them the condition costs more than the rows it spares. At 1,000,000 articles, 400
# ids spread over all of them (400 ranges) took 205 ms for their content hashes and 590 ms for
# their texts; merged into 64 ranges, 57 and 360 ms. Where the ids sit together it changes
# nothing (fewer ranges to begin with).
_MAX_RANGES = 64


def id_match(column: str, ids: Iterable[int]) -> str:
    """A condition that `column` is one of `ids`, for tables without an index on it
    (`articles` and its vector tables, migration 0013): DuckDB prunes by a column's min and max
    per segment for ranges, not for an IN list, so the list comes with the ranges it spans.
    300 ids among 100,000 articles, within the last 10,000: 26 ms for their texts with the
    ranges, 177 ms without (every text of the table is read); ids grow with arrival, so the
    recent articles pages ask for sit together."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return "FALSE"
    runs = [[wanted[0], wanted[0]]]
    for i in wanted[1:]:
        if i - runs[-1][1] <= _RUN:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    spans = " OR ".join(f"{column} BETWEEN {lo} AND {hi}" for lo, hi in _fewest(runs))
    return f"({spans}) AND {column} IN {id_literal(wanted)}"


def _fewest(runs: list[list[int]]) -> list[list[int]]:
    """The runs, at most `_MAX_RANGES` of them: the runs closest together are joined."""
    if len(runs) <= _MAX_RANGES:
        return runs
    gaps = np.array([b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)])
    joined = set(np.argsort(gaps, kind="stable")[: len(runs) - _MAX_RANGES].tolist())
    out = [list(runs[0])]
    for k, run in enumerate(runs[1:]):
        if k in joined:
            out[-1][1] = run[1]
        else:
            out.append(list(run))
    return out


def story_articles(ids: Iterable[int]) -> str:
    """The rows of `articles` in the stories `ids` (`coalesce(story_id, id) IN ids`), as a
    subquery to read FROM, spelled so that DuckDB prunes by min and max (`id_match`): it does
    not for the coalesce, nor for an OR of two ranges. A story's id is its first report's and
    its members arrive after it, so they sit near it. At 1,000,000 articles, reading a story's
    members from a file just opened took 81 ms with the coalesce and 34 ms with this (28 ms of
    it the opening); the members of 100 stories, 93 and 54 ms."""
    wanted = list(ids)
    return (
        f"(SELECT * FROM articles WHERE story_id IS NOT NULL AND {id_match('story_id', wanted)} "
        f"UNION ALL SELECT * FROM articles WHERE story_id IS NULL AND {id_match('id', wanted)})"
    )


def id_list(ids: Iterable[int]) -> str:
    """Article ids as one text parameter, cast in SQL (`?::BIGINT[]`): DuckDB's Python client
    converts a list parameter element by element, some 30 ms for 400 ids (it tries to import
    pandas for each), and a text cast takes one."""
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def vector_text(vector: np.ndarray) -> str:
    """A float32 vector as one text parameter, cast in SQL (`?::FLOAT[]`; see `id_list`): the
    shortest decimal of each value, which reads back as the same float32."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).ravel().tolist())) + "]"
