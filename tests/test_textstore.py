"""The text store beside the warehouse: pages read stored texts from it, never a stale one, and
it is kept up to date by the writer and the maintenance."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pipeline.app.jobs import maintenance_job
from pipeline.ingest.upkeep import keep_texts
from pipeline.ingest.writer import Writer
from pipeline.models import ArticleDraft
from pipeline.store import articles as article_store
from pipeline.store.db import Warehouse
from pipeline.store.textstore import TextStore
from tests.helpers import put_article


def _warehouse(tmp_path, texts: dict[int, str]) -> Warehouse:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    for aid, text in texts.items():
        put_article(wh, aid, text, f"h{aid}")
    return wh


def _texts(wh: Warehouse, ids: list[int]) -> dict[int, str]:
    with wh.connect(read_only=True) as db:
        return article_store.texts(db, ids)


def _write_batch(services, titles: list[str]) -> list[int]:
    now = datetime.now(UTC)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"https://news.example/{k}",
            canonical_url=f"https://news.example/{k}",
            title=title,
            text=f"{title}. " + " ".join(f"word{k}x{i}" for i in range(80)),
            text_source="page",
            fetched_at=now,
            lang="en",
        )
        for k, title in enumerate(titles)
    ]
    writer = Writer(services)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        writer.start(db)
    return [a.id for a in writer.store(drafts)]


def test_a_written_batch_keeps_its_texts_beside_the_warehouse(services):
    ids = _write_batch(services, ["Satellite images sold", "Sanctions on a space firm"])
    with services.warehouse.connect(read_only=True) as db:
        hashes = article_store.content_hashes(db, ids)
        stored = article_store.warehouse_texts(db, ids)
    assert TextStore(services.warehouse.path).get(hashes) == stored
    assert stored[ids[0]].startswith("Satellite images sold.")


def test_texts_are_read_from_the_store_unless_the_warehouse_holds_another_version(tmp_path):
    wh = _warehouse(tmp_path, {1: "Stored text.", 2: "Edited text."})
    # Kept under the warehouse's hash: served from the store (which is why it differs here);
    # kept under an older hash (a seed edited since): read from the warehouse.
    TextStore(wh.path).put([(1, "h1", "Kept text."), (2, "older", "Text before the edit.")])
    assert _texts(wh, [1, 2]) == {1: "Kept text.", 2: "Edited text."}


def test_a_damaged_store_is_not_trusted_and_maintenance_builds_it_again(tmp_path, make_settings):
    wh = _warehouse(tmp_path, {1: "First text.", 2: "Second text."})
    store = TextStore(wh.path)
    store.path.write_bytes(b"not a database" * 100)
    assert _texts(wh, [1, 2]) == {1: "First text.", 2: "Second text."}

    settings = make_settings()
    result = maintenance_job(settings, wh)
    assert result.status == "ok" and result.counts["texts_kept"] == 2
    assert store.get({1: "h1", 2: "h2"}) == {1: "First text.", 2: "Second text."}


def test_keeping_texts_adds_what_is_missing_and_drops_what_the_warehouse_lacks(tmp_path):
    wh = _warehouse(tmp_path, {1: "One.", 2: "Two.", 3: "Three."})
    store = TextStore(wh.path)
    store.put([(1, "h1", "One."), (99, "h99", "An article no longer stored.")])
    seen: list[tuple[int, int]] = []
    assert keep_texts(wh, progress=lambda done, total: seen.append((done, total))) == 2
    assert store.hashes() == {1: "h1", 2: "h2", 3: "h3"}
    assert seen[-1] == (2, 2)
    assert keep_texts(wh) == 0  # nothing left to do


def test_reading_texts_creates_no_store(tmp_path):
    wh = _warehouse(tmp_path, {1: "Only in the warehouse."})
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _texts(wh, [1]) == {1: "Only in the warehouse."}
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_batch_is_stored_when_its_texts_cannot_be_kept(services, caplog):
    store = TextStore(services.warehouse.path)
    store.remove()  # the seeds' texts
    store.path.mkdir()  # a folder in its place: SQLite cannot open it
    with caplog.at_level(logging.WARNING, logger="pipeline.store.textstore"):
        ids = _write_batch(services, ["Launch contract signed"])
    assert "text store" in caplog.text
    assert _texts(services.warehouse, ids)[ids[0]].startswith("Launch contract signed.")


def test_status_says_how_many_texts_the_store_holds(make_settings):
    from pipeline.app.status import gather_status

    settings = make_settings()
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    for aid in (1, 2, 3):
        put_article(wh, aid, f"Text {aid}.", f"h{aid}")
    TextStore(wh.path).put([(1, "h1", "Text 1.")])
    assert gather_status(settings, wh).texts.startswith("1 of 3 stored articles' texts kept")
    assert "daily maintenance adds them" in gather_status(settings, wh).texts
    keep_texts(wh)
    line = gather_status(settings, wh).texts
    assert line.startswith("3 of 3") and "maintenance" not in line


def test_maintenance_goes_on_when_the_store_cannot_be_written(tmp_path, caplog):
    wh = _warehouse(tmp_path, {1: "One.", 2: "Two."})
    TextStore(wh.path).path.mkdir()  # a folder in its place
    with caplog.at_level(logging.WARNING, logger="pipeline.ingest.upkeep"):
        assert keep_texts(wh) == 0
    assert "not written" in caplog.text
    assert _texts(wh, [1, 2]) == {1: "One.", 2: "Two."}
