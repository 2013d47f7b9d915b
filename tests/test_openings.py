"""The text openings the front page's cards show: read once, read again when the text changes."""

from __future__ import annotations

from pipeline.store.db import Warehouse
from pipeline.web.openings import Openings
from tests.helpers import put_article


def test_an_opening_is_read_once_and_again_when_the_text_changes(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    put_article(wh, 1, "First version. " + "x" * 600, "h1")
    put_article(wh, 2, "Another article.", "h2")
    openings = Openings()
    with wh.connect(read_only=True) as db:
        first = openings.of(db, {1: "h1", 2: "h2"})
    assert first == {1: ("First version. " + "x" * 600)[:400], 2: "Another article."}

    put_article(wh, 1, "Second version, edited.", "h1b")  # an edited seed keeps its id
    with wh.connect(read_only=True) as db:
        # Asked under the old hash, the kept opening answers (the warehouse is not read).
        assert openings.of(db, {1: "h1"})[1].startswith("First version.")
        # Under the new hash the text is read again.
        assert openings.of(db, {1: "h1b"}) == {1: "Second version, edited."}
