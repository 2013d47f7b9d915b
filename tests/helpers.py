"""Helpers shared by the ingest, polling and daemon tests (page makers: pipeline.testkit)."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest import Services
from pipeline.ingest.upkeep import sync_seeds
from pipeline.testkit.pages import article_page, paragraphs  # noqa: F401 (re-used by tests)


def make_pipeline(settings, embedder) -> Services:
    """A pipeline on a fresh warehouse with the seeds loaded."""
    services = Services(settings, embedder=embedder)
    services.warehouse.migrate()
    sync_seeds(services)
    return services


def write_feeds(settings, urls: list[str]) -> Path:
    """Replace the feeds file with these URLs."""
    path = Path(settings.feeds.file)
    path.write_text("".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in urls), encoding="utf-8")
    return path
