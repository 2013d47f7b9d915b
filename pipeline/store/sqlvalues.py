"""Values spelled into SQL text, where DuckDB's Python client or planner does worse with a
parameter: id lists and vectors (shared by the queries of search and the reading room)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def id_literal(ids: Iterable[int]) -> str:
    """Article ids as a literal list for `articles.id IN ...`: DuckDB looks them up in the
    table's key (7 ms for 200 ids at 100,000 articles) where a list parameter costs it a scan of
    every row (175 ms, and a condition beside it is evaluated on every row first)."""
    return "(" + ",".join(str(int(i)) for i in ids) + ")"


def id_list(ids: Iterable[int]) -> str:
    """Article ids as one text parameter, cast in SQL (`?::BIGINT[]`): DuckDB's Python client
    converts a list parameter element by element, some 30 ms for 400 ids (it tries to import
    pandas for each), and a text cast takes one."""
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def vector_text(vector: np.ndarray) -> str:
    """A float32 vector as one text parameter, cast in SQL (`?::FLOAT[]`; see `id_list`): the
    shortest decimal of each value, which reads back as the same float32."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).ravel().tolist())) + "]"
