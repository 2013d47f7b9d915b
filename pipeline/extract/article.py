"""Article extraction (pure): HTML in, main text and metadata out, with trafilatura.

The options are chosen by measurement on the 181 real news pages of the article-extraction
benchmark (`bench/extract_eval.py --variants` prints this comparison; token F1 against the
pages' articleBody):

- all choices below together: F1 0.9716 (P 0.9610, R 0.9823); trafilatura's defaults 0.9598.
- `favor_precision=True` with trafilatura's fallback extractors (readability, jusText) on:
  favor_recall instead 0.9619, no fallbacks (`fast`) 0.9645, without tables 0.9672.
- Split article bodies are merged first (without: 0.9688): publishers that cut the body around
  ads repeat the body container (`<div class="article__body">` ×N); trafilatura keeps only the
  first one.
- A second pass in balanced mode runs when the precise pass yields almost nothing (a paywall
  notice, a reprint banner) and is kept when it is at least twice as long (without: 0.9668).
- A page still near-empty after both passes whose text the parser cut off at libxml2's nesting
  limit (256 levels: layout tables nested a hundred deep) is parsed again without that limit,
  its layout tables unwrapped, and extracted once more; it is kept when at least twice as long.
- Lengths in words are counted per script (`textnorm.length_in_words`): Chinese, Japanese and
  Thai characters count as the words they make.
- `deduplicate` is off on purpose: trafilatura keeps its duplicate cache process-wide, so a
  paragraph seen on one page would vanish from later pages of the same site; not pure.
- Language (pipeline/extract/language.py): py3langid on the extracted text when it is long
  enough and the detector is sure; else what the page declares. On the corpus 23 of 181 pages
  declare nothing and 4 declare a wrong language (German pages marked `en`, English ones `de`),
  which the detector gets right.
- Encoding: trafilatura decodes bytes by UTF-8 then statistical guessing; a charset the server
  or the page declares is honoured first.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import etree
from lxml.etree import XPath
from lxml.html import HtmlElement, HTMLParser, document_fromstring
from trafilatura.settings import set_date_params
from trafilatura.utils import decode_file
from trafilatura.xpaths import BODY_XPATH

from pipeline.extract.language import declared_language, detect_language
from pipeline.textnorm import length_in_words

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_NOT_HTML_TYPES = (
    "application/pdf",
    "image/",
    "video/",
    "audio/",
    "font/",
    "application/zip",
    "application/gzip",
    "application/octet-stream",
    "application/msword",
    "application/vnd.",
    "application/json",
    "text/plain",
    "text/csv",
    "application/rss+xml",
    "application/atom+xml",
)
# Magic numbers of what a news link may point to instead of a page, whatever its content type.
_BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"ID3",
    b"OggS",
    b"\x00\x00\x00 ftyp",
    b"\x00\x00\x00\x18ftyp",
    b"\x00\x00\x00\x1cftyp",
    b"%!PS",
    b"\xd0\xcf\x11\xe0",
)
_SNIFF_RE = re.compile(rb"<(?:!doctype\s+html|html|head|body|article|div|p)[\s>]", re.I)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)

#: Fewer words than this is not an article text (a menu item, a cookie notice); words as
#: `textnorm.length_in_words` counts them, per script.
MIN_WORDS = 5


@dataclass(frozen=True)
class ExtractOptions:
    """Extraction settings; the defaults are the measured best (see the module docstring)."""

    favor_precision: bool = True
    favor_recall: bool = False
    fallbacks: bool = True  # compare with readability/jusText (trafilatura's non-fast mode)
    include_tables: bool = True
    merge_split_bodies: bool = True
    second_pass_words: int = 50  # re-extract in balanced mode below this many words; 0: never
    detect_language: bool = True


DEFAULT_OPTIONS = ExtractOptions()


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
    """Whether a response is an HTML page (a PDF, image or archive behind a link is not)."""
    head = body[:16]
    if any(head.startswith(magic) for magic in _BINARY_MAGIC):
        return False
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in _HTML_TYPES:
        return True
    if any(ctype.startswith(t) for t in _NOT_HTML_TYPES):
        return False
    # No or a vague content type (text/xml, binary/octet-stream...): look at the bytes.
    return bool(_SNIFF_RE.search(body[:4096]))


def extract_page(
    html: bytes | str,
    url: str,
    *,
    content_type: str | None = None,
    options: ExtractOptions = DEFAULT_OPTIONS,
) -> PageExtract | None:
    """Main text and metadata of a page; None when it has no article text."""
    tree = trafilatura.load_html(_decode(html, content_type) if isinstance(html, bytes) else html)
    if tree is None:
        return None
    declared_lang = declared_language(tree)
    canonical = _canonical(tree, url)
    if options.merge_split_bodies:
        merge_split_bodies(tree)
    doc = _bare(tree, url, options, with_metadata=True)
    text = _text(doc)
    if (
        options.second_pass_words
        and length_in_words(text) < options.second_pass_words
        and (options.favor_precision or options.favor_recall)
    ):
        # The precise pass can keep only a banner of a page whose body it judged boilerplate.
        retry = _text(
            _bare(
                tree,
                url,
                ExtractOptions(
                    fallbacks=options.fallbacks,
                    include_tables=options.include_tables,
                    favor_precision=False,
                ),
                with_metadata=False,
            )
        )
        if length_in_words(retry) >= 2 * max(1, length_in_words(text)):
            text = retry
    if options.second_pass_words and length_in_words(text) < options.second_pass_words:
        # Still almost nothing: the parser may have cut the page off at its nesting limit.
        deep = _unlimited_depth_text(html, content_type, tree, url, options)
        if deep is not None and length_in_words(deep) >= 2 * max(1, length_in_words(text)):
            text = deep
    if length_in_words(text) < MIN_WORDS:
        return None
    lang = declared_lang
    if options.detect_language:
        lang = detect_language(text) or declared_lang
    meta = doc if doc is not None else None
    return PageExtract(
        text=text,
        title=_clean(getattr(meta, "title", None)),
        author=_clean(getattr(meta, "author", None)),
        published_at=_date(getattr(meta, "date", None)),
        site_name=_clean(getattr(meta, "sitename", None)),
        lang=lang,
        description=_clean(getattr(meta, "description", None)),
        canonical_url=canonical,
    )


# htmldate with the time of day when the page gives one; original (not "updated") date first.
_DATE_PARAMS = {**set_date_params(True), "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


def _bare(tree: HtmlElement, url: str, options: ExtractOptions, *, with_metadata: bool) -> Any:
    # htmldate rejects a date after max_date, which a day's date sets at its midnight: today's
    # would turn away every page published since midnight UTC (its time of day lost) and every
    # page dated after midnight in a zone east of UTC. Tomorrow's lets both through.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    date_params = dict(_DATE_PARAMS, max_date=tomorrow.strftime("%Y-%m-%d"))
    # bare_extraction copies a tree it is given, so one parse serves both passes.
    return trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=with_metadata,
        include_comments=False,
        include_tables=options.include_tables,
        favor_precision=options.favor_precision,
        favor_recall=options.favor_recall,
        fast=not options.fallbacks,
        date_extraction_params=date_params,
    )


# libxml2 stops a document at 256 levels of nesting unless told otherwise ("huge"); it then
# allows 2,048. Pages laid out in tables nested a hundred deep (three levels each) are cut off.
_UNLIMITED_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
    huge_tree=True,
)
_LAYOUT_TAGS = ("table", "thead", "tbody", "tfoot", "tr", "td", "th")


def _unlimited_depth_text(
    html: bytes | str,
    content_type: str | None,
    tree: HtmlElement,
    url: str,
    options: ExtractOptions,
) -> str | None:
    """The page's text parsed without libxml2's nesting limit, when that limit cut text off
    (None otherwise). Layout tables are unwrapped first: they are what nests so deep, and
    extracting from a tree thousands of levels deep costs seconds."""
    source = _decode(html, content_type) if isinstance(html, bytes) else html
    if isinstance(source, bytes):
        source = decode_file(source)
    try:
        deep = document_fromstring(source.encode("utf-8"), parser=_UNLIMITED_PARSER)
    except (ValueError, etree.ParserError):
        return None
    if len(deep.text_content()) <= len(tree.text_content()):
        return None  # the first parse lost nothing: no deeper reading helps
    etree.strip_tags(deep, *_LAYOUT_TAGS)
    return _text(_bare(deep, url, options, with_metadata=False))


def _text(doc: Any) -> str:
    return ((getattr(doc, "text", None) or "") if doc is not None else "").strip()


# trafilatura's first body expression ends in [1] (the first container); the same expression
# without it lists every container so that split bodies can be found.
_BODY_SRC = BODY_XPATH[0].path.strip()
_ALL_BODIES = XPath(
    _BODY_SRC[:-3] if _BODY_SRC.endswith("[1]") else _BODY_SRC,
    namespaces={"re": "http://exslt.org/regular-expressions"},
)


def merge_split_bodies(tree: HtmlElement) -> int:
    """Move the content of repeated article-body containers (same tag and class, not nested)
    into the first one, in document order; return how many were merged."""
    found = _ALL_BODIES(tree)
    if len(found) < 2:
        return 0
    members = set(found)
    outer = [el for el in found if not any(a in members for a in el.iterancestors())]
    first = outer[0]
    same = [
        el
        for el in outer[1:]
        if el.tag == first.tag and el.get("class") and el.get("class") == first.get("class")
    ]
    for el in same:
        for child in list(el):
            first.append(child)
        if el.text and el.text.strip():
            # Text directly inside the container, before its first child, is kept as a paragraph.
            para = first.makeelement("p")
            para.text = el.text
            first.append(para)
        el.getparent().remove(el)
    return len(same)


def _decode(body: bytes, content_type: str | None) -> bytes | str:
    # trafilatura decodes by trying UTF-8 and then guessing; a charset the server or the page
    # declares is more reliable than a guess on short pages (windows-1251 vs koi8-r, latin-1).
    for raw in (_header_charset(content_type), _bom_charset(body), _meta_charset(body)):
        if not raw:
            continue
        try:
            name = codecs.lookup(raw).name
        except LookupError:
            continue
        if name in ("utf-16-le", "utf-16-be", "utf-16") and not _bom_charset(body):
            continue  # a page served as bytes that claims UTF-16 without a BOM is lying
        if name == "latin-1":
            name = "cp1252"  # as browsers do: the C1 range of "iso-8859-1" pages is cp1252
        try:
            return body.decode(name)
        except UnicodeDecodeError:
            continue
    return body


def _header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET_RE.search(content_type or "")
    return match.group(1) if match else None


def _bom_charset(body: bytes) -> str | None:
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return name
    return None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET_RE.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def _canonical(tree: HtmlElement, url: str) -> str | None:
    base = url
    for href in tree.xpath("//base/@href"):
        if href.strip():
            base = urljoin(url, href.strip())
            break
    candidates = tree.xpath(
        "//link[contains(concat(' ', normalize-space(translate(@rel, "
        "'CANONICAL', 'canonical')), ' '), ' canonical ')]/@href"
    )
    candidates += tree.xpath("//meta[@property='og:url' or @name='og:url']/@content")
    for href in candidates:
        href = (href or "").strip()
        if not href:
            continue
        absolute = urljoin(base, href)
        if urlsplit(absolute).scheme in ("http", "https") and urlsplit(absolute).hostname:
            return absolute
    return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A date without a zone is read as UTC: the day is right, the hour may be off.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _clean(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None
