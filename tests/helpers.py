"""Helpers shared by the ingest, polling and daemon tests (page makers: pipeline.testkit)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pipeline.ingest import Services
from pipeline.ingest.upkeep import sync_seeds
from pipeline.testkit.pages import article_page, paragraphs  # noqa: F401 (re-used by tests)
from tests.conftest import REPO


def make_pipeline(settings, embedder) -> Services:
    """A pipeline on a fresh warehouse with the seeds loaded."""
    services = Services(settings, embedder=embedder)
    services.warehouse.migrate()
    sync_seeds(services)
    return services


def put_article(wh, aid: int, text: str, digest: str) -> None:
    """Store (or replace) a bare article row by SQL: id, text and content hash, nothing else."""
    with wh.transaction() as db:
        db.execute("DELETE FROM articles WHERE id = ?", [aid])
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text, text_source, "
            "content_hash, word_count) VALUES (?, 'feed', ?, 't', now(), ?, 'page', ?, 1)",
            [aid, f"https://news.example/{aid}", text, digest],
        )


def write_feeds(settings, urls: list[str]) -> Path:
    """Replace the feeds file with these URLs."""
    path = Path(settings.feeds.file)
    path.write_text("".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in urls), encoding="utf-8")
    return path


def child_env(*first: str | Path) -> dict[str, str]:
    """The environment of a Python process a test starts: `first` and this checkout lead its
    path, and the suite's own PYTHONPATH follows (under `make test-dates` it makes sleeps work,
    tests/faketime)."""
    path = [*map(str, first), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def set_clock(monkeypatch, when: datetime, *modules: str) -> None:
    """Make `datetime.now()` in these modules return `when`: for code that reads the clock
    itself (the CLI commands, page extraction); what it computes from it is what is tested."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz is not None else when.replace(tzinfo=None)

    for module in modules:
        monkeypatch.setattr(f"{module}.datetime", Clock)
