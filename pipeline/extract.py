"""Article extraction (pure): HTML in, main text and metadata out, with trafilatura.

Options were chosen by measurement on 181 real news pages with ground truth (bench/
extract_eval.py): `favor_precision=True` with trafilatura's fallback extractors kept on scores
F1 0.964 against 0.960 for the defaults; turning fallbacks off, dropping tables or deduplicating
all score lower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import trafilatura

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_NOT_HTML_TYPES = ("application/pdf", "image/", "video/", "audio/", "application/zip",
                   "application/octet-stream", "application/msword", "application/vnd.")
#: Fewer words than this is not an article text.
MIN_WORDS = 5
_SNIFF_RE = re.compile(rb"<(?:!doctype\s+html|html|head|body|article|div|p)[\s>]", re.I)


@dataclass(frozen=True)
class PageExtract:
    """The main text and metadata of an article page."""

    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    site_name: str | None = None
    lang: str | None = None
    description: str | None = None
    canonical_url: str | None = None


def looks_like_html(content_type: str | None, body: bytes) -> bool:
    """Whether a response is an HTML page (a PDF or image behind a link is not)."""
    ctype = (content_type or "").lower()
    if body[:5] == b"%PDF-":
        return False
    if any(ctype.startswith(t) for t in _HTML_TYPES):
        return True
    if any(ctype.startswith(t) for t in _NOT_HTML_TYPES):
        return False
    return bool(_SNIFF_RE.search(body[:4096]))


def _lang(tree: Any) -> str | None:
    values = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.xpath("//meta[@http-equiv='content-language' or @property='og:locale' "
                           "or @name='language']/@content"):
        values.append(meta)
    for value in values:
        if value and re.match(r"^[A-Za-z]{2,3}\b", value.strip()):
            return re.split(r"[-_]", value.strip())[0].lower()
    return None


def _canonical(tree: Any) -> str | None:
    for href in tree.xpath("//link[translate(@rel, 'CANONICAL', 'canonical')='canonical']/@href"):
        if href and href.strip():
            return href.strip()
    for href in tree.xpath("//meta[@property='og:url']/@content"):
        if href and href.strip():
            return href.strip()
    return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(
        timezone.utc)


def _clean(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


def extract_page(html: bytes | str, url: str) -> PageExtract | None:
    """Main text and metadata of a page; None when it has no article text."""
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    lang = _lang(tree)
    canonical = _canonical(tree)
    doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, include_comments=False,
                                      include_tables=True, favor_precision=True)
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text.split()) < MIN_WORDS:  # a menu item or a cookie notice is no article
        return None
    return PageExtract(text=text, title=_clean(doc.title), author=_clean(doc.author),
                       published_at=_date(doc.date), site_name=_clean(doc.sitename),
                       lang=lang, description=_clean(doc.description),
                       canonical_url=canonical)
