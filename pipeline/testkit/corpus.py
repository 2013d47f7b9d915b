"""The 181 real news pages of ../shared/corpus/news-pages served on loopback behind a generated
RSS feed whose items carry only each article's first sentence."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.testkit.server import LoopbackServer, rss


@dataclass(frozen=True)
class CorpusPage:
    """One page: its id (sha256), original URL, HTML and true article body."""

    key: str
    url: str
    html: bytes
    body: str


def load_pages(root: Path) -> list[CorpusPage]:
    """Read ground-truth.json and the gzipped pages."""
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key, item in sorted(truth.items()):
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        pages.append(CorpusPage(key, item["url"], html, item.get("articleBody", "")))
    return pages


def first_sentence(text: str) -> str:
    """The first sentence of a text (at most 40 words)."""
    head = re.split(r"(?<=[.!?])\s+", " ".join(text.split()), maxsplit=1)[0]
    return " ".join(head.split()[:40])


def serve(server: LoopbackServer, pages: list[CorpusPage], feed_path: str = "/corpus.xml") -> str:
    """Route every page and a feed listing them all; return the feed URL."""
    items = []
    for page in pages:
        path = f"/page/{page.key}.html"
        server.route(path, page.html, content_type="text/html")
        sentence = first_sentence(page.body)
        items.append(
            {
                "title": " ".join(sentence.split()[:12]) or page.key,
                "link": server.url(path),
                "guid": page.key,
                "description": sentence,
            }
        )
    server.route("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    server.route(feed_path, rss(items, title="corpus"), content_type="application/rss+xml")
    return server.url(feed_path)
