"""Integration on real news pages: every page stored, its text close to the ground truth.

A third of the 181 shared pages (every third, so every kind of site is in): the whole corpus is
bench/ingest.py's, which prints the same figures for all of them."""

from __future__ import annotations

import pytest

from pipeline.ingest import run_cycle
from pipeline.testkit.corpus import load_pages, serve
from pipeline.testkit.scoring import corpus_score
from tests.conftest import NEWS_PAGES, require_shared
from tests.helpers import make_pipeline, write_feeds


@pytest.mark.model
@pytest.mark.slow
def test_news_pages_are_stored_with_their_article_text(make_settings, embedder, loopback):
    everything = load_pages(require_shared(NEWS_PAGES))
    assert len(everything) == 181
    pages = everything[::3]
    settings = make_settings(
        "[http]\nallow_private_networks = true\nper_host_delay_s = 0.0\nconcurrency = 8\n"
    )
    services = make_pipeline(settings, embedder)
    feed = serve(loopback, pages)
    write_feeds(settings, [feed])
    summary = run_cycle(services)
    assert summary.articles_new == len(pages)
    with services.warehouse.connect(read_only=True) as db:
        text_by_url = dict(db.rows("SELECT url, text FROM articles WHERE source = 'feed'"))
        sources = dict(
            db.rows("SELECT text_source, count(*) FROM articles WHERE source = 'feed' GROUP BY 1")
        )
    pairs = [(text_by_url[loopback.url(f"/page/{p.key}.html")], p.body) for p in pages]
    precision, recall, f1 = corpus_score(pairs)
    print(f"stored {len(pairs)}: P={precision:.3f} R={recall:.3f} F1={f1:.3f} sources={sources}")
    assert f1 >= 0.95 and sources.get("page", 0) >= len(pages) - 2
