"""The precision of stored vectors: recorded in their model name, shown by `status`, and vectors
of both precisions of one model searched and compared as they are (never embedded again)."""

from __future__ import annotations

import io

from rich.console import Console

from pipeline.app.status import gather_status, vector_state
from pipeline.cli.status import render_status
from pipeline.embed.precision import backend_precision, split_stored_name, stored_name
from pipeline.store import searchvectors as vector_store
from pipeline.testkit.fakes import FakeEmbedder
from tests.helpers import make_pipeline

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def test_the_stored_name_says_the_precision_and_older_names_have_none():
    assert [backend_precision(b) for b in ("torch", "onnx-fp32", "onnx-int8")] == [
        "fp32",
        "fp32",
        "int8",
    ]
    assert stored_name(MODEL, "int8") == f"{MODEL}#int8"
    assert split_stored_name(f"{MODEL}#int8") == (MODEL, "int8")
    assert split_stored_name(MODEL) == (MODEL, "")  # stored before the precision was recorded
    assert split_stored_name("/models/v2#draft") == ("/models/v2#draft", "")  # not a precision


def test_status_says_which_precisions_are_stored_and_that_they_are_compared_as_they_are(
    make_settings,
):
    settings = make_settings()
    assert vector_state(settings, {}) == (
        "none stored; new vectors int8 ([embed] backend onnx; fp32 if it falls back to torch)"
    )
    line = vector_state(settings, {f"{MODEL}#fp32": 1200, f"{MODEL}#int8": 34})
    assert line.startswith(f"{MODEL}: 1,200 fp32, 34 int8; new vectors int8")
    assert "compared across precisions as they are (cosine >= 0.98" in line
    assert "not embedded again" in line
    # One precision stored, the same as new vectors: nothing to compare.
    assert "compared" not in vector_state(settings, {f"{MODEL}#int8": 5})
    torch = make_settings('[embed]\nbackend = "torch"\n')
    assert vector_state(torch, {f"{MODEL}#int8": 5}).endswith(
        "new vectors fp32 ([embed] backend torch). Vectors of one model are compared across "
        "precisions as they are (cosine >= 0.98 between them), not embedded again"
    )
    older = vector_state(settings, {MODEL: 7, f"{MODEL}#int8": 2})
    assert f"{MODEL}: 2 int8, 7 unrecorded" in older and "stored before the precision" in older


class PrecisionEmbedder(FakeEmbedder):
    """The fake embedder storing its vectors under a name that says a precision."""

    precision = "fp32"

    def embed(self, texts, progress=None):
        return [
            e.__class__(stored_name(self.model_name, self.precision), e.vector, e.chunks)
            for e in super().embed(texts, progress)
        ]


def test_a_warehouse_of_both_precisions_is_searched_whole_and_status_shows_both(make_settings):
    settings = make_settings()
    services = make_pipeline(settings, PrecisionEmbedder())  # the five seeds, fp32
    with services.warehouse.transaction() as db:
        # Two of them as if stored after the switch to int8, one before precisions were named.
        for table in ("embeddings", "chunk_embeddings"):
            db.execute(
                f"UPDATE {table} SET model = ? WHERE article_id IN "
                f"(SELECT id FROM articles ORDER BY id LIMIT 2)",
                [f"{FakeEmbedder.model_name}#int8"],
            )
            db.execute(
                f"UPDATE {table} SET model = ? WHERE article_id = (SELECT max(id) FROM articles)",
                [FakeEmbedder.model_name],
            )
    with services.warehouse.connect(read_only=True) as db:
        ids = [r[0] for r in db.rows("SELECT id FROM articles ORDER BY id")]
        query = FakeEmbedder().encode(["satellite images sanctions espionage"])[0]
        hits = vector_store.meaning_ranking(db, query, FakeEmbedder.model_name, depth=10)
        assert sorted(h.article_id for h in hits) == ids  # every precision, none left out
        assert not vector_store.meaning_ranking(db, query, "fake/bag", depth=10)  # not a prefix
    report = gather_status(settings, services.warehouse)
    assert report.vectors.startswith(f"{FakeEmbedder.model_name}: 2 fp32, 2 int8, 1 unrecorded")
    out = io.StringIO()
    render_status(report, Console(file=out, width=100))
    assert f"vectors {report.vectors}" in " ".join(out.getvalue().split())
