"""The seed corpus: cleaning, titles, loading into the warehouse, re-running init."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipeline.ingest import Services
from pipeline.ingest.upkeep import sync_seeds
from pipeline.tag.seeds import clean_text, load_seeds, split_title
from tests.conftest import SEEDS

CHROME = [
    "Most Popular",
    "Recent Comments",
    "Read More",
    "Leave a Reply",
    "Source link",
    "HomeChina News",
    "Wednesday, June 7, 2023",
    "- Crafts",
    "- Gardening",
]


def test_clean_text_drops_site_chrome_keeps_paragraphs():
    raw = (
        "Wednesday, June 7, 2023\nHomeChina NewsBig Headline Here\n\nBig Headline Here\n\n"
        "First paragraph of the story.\n\nSecond paragraph.\n\nRead More\n\nLeave a Reply\n"
        "- Art\n- Crafts\n- Dance\n- Drinks\n- Film/Movie\n"
    )
    text = clean_text(raw)
    assert "First paragraph of the story." in text and "Second paragraph." in text
    for junk in ("Read More", "Leave a Reply", "Crafts", "June 7, 2023", "HomeChina"):
        assert junk not in text
    title, body = split_title(text)
    assert title == "Big Headline Here" and body.startswith("First paragraph")


def test_a_bullet_list_inside_prose_is_kept():
    text = clean_text("Intro.\n- first point of the argument\n- second point\nOutro.")
    assert "- first point of the argument" in text


def test_shipped_seeds_have_sensible_titles_and_clean_text():
    seeds = {d.file_name[:3]: d for d in load_seeds(SEEDS)}
    assert len(seeds) == 5
    assert (
        seeds["000"].title == "US Treasury Sanctions Chinese Firm Supplying Intelligence to Russia"
    )
    assert seeds["003"].title == "China thwarting satellites used to spy"
    for doc in seeds.values():
        assert 3 <= len(doc.title.split()) <= 25 and not doc.title[0].isdigit()
        assert len(doc.text.split()) > 300
        for junk in CHROME:
            assert junk not in doc.text.split("\n"), (doc.file_name, junk)
        assert doc.url == f"seed:{doc.file_name}"


@pytest.mark.model
def test_init_loads_seeds_once_and_updates_an_edited_seed(make_settings, embedder, tmp_path):
    seeds_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds_dir)
    settings = make_settings(f'[seeds]\ndir = "{seeds_dir}"\n')
    services = Services(settings, embedder=embedder)
    assert services.warehouse.migrate()
    first = sync_seeds(services)
    assert len(first.added) == 5
    with services.warehouse.connect(read_only=True) as db:
        rows = db.dicts(
            "SELECT a.id, a.url, a.title, a.text, a.content_hash, e.dim, e.vector, "
            "e.model, a.text_source FROM articles a JOIN embeddings e "
            "ON e.article_id = a.id WHERE a.source = 'seed' ORDER BY a.url"
        )
        chunks = db.scalar("SELECT count(*) FROM chunk_embeddings")
    assert [r["url"] for r in rows] == [f"seed:{p.name}" for p in sorted(SEEDS.glob("*.txt"))]
    for r in rows:
        assert r["title"] and r["text"] and len(r["content_hash"]) == 64
        assert r["dim"] == 384 and abs(np.linalg.norm(r["vector"]) - 1) < 1e-4
        assert r["model"].startswith("sentence-transformers/all-MiniLM-L6-v2#")  # + precision
    assert chunks > 5  # the long seeds have several chunks

    # Re-running adds nothing and keeps every id and hash.
    again = sync_seeds(services)
    assert not again.added and not again.updated and len(again.unchanged) == 5
    with services.warehouse.connect(read_only=True) as db:
        assert db.rows("SELECT id, content_hash FROM articles ORDER BY id") == [
            (r["id"], r["content_hash"]) for r in sorted(rows, key=lambda r: r["id"])
        ]

    # Editing one seed updates that seed only, in place.
    target = seeds_dir / "003_aa95785925755c3c.txt"
    target.write_text(
        target.read_text(encoding="utf-8") + "\nAn added closing paragraph.\n", encoding="utf-8"
    )
    edited = sync_seeds(services)
    assert edited.updated == ("003_aa95785925755c3c.txt",) and not edited.added
    with services.warehouse.connect(read_only=True) as db:
        after = dict(db.rows("SELECT url, text FROM articles"))
        assert db.scalar("SELECT count(*) FROM articles") == 5
    assert after["seed:003_aa95785925755c3c.txt"].endswith("An added closing paragraph.")
