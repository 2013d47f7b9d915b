"""HTML fragments (feed titles, summaries, content:encoded) to plain text with paragraphs.

Feed HTML is a fragment, often malformed, sometimes plain text with entities; lxml parses all of
it leniently. A few lines here rather than a dependency: only block breaks need care.
"""

from __future__ import annotations

import html as html_lib
import re

from lxml import etree
from lxml import html as lxml_html

from pipeline.textnorm import tidy

_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "hr",
    }
)
_SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg"})
_TAG_RE = re.compile(r"<[a-zA-Z/!][^>]*>")


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment; block elements become line breaks."""
    if not fragment:
        return ""
    if not _TAG_RE.search(fragment):
        return tidy(html_lib.unescape(fragment))
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return tidy(html_lib.unescape(_TAG_RE.sub(" ", fragment)))
    parts: list[str] = []

    def walk(el: lxml_html.HtmlElement) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.lower() in _SKIP:
            if el.tail:
                parts.append(el.tail)
            return
        block = tag.lower() in _BLOCKS
        if block:
            parts.append("\n")
        if el.text and isinstance(el.tag, str):
            parts.append(el.text)
        for child in el:
            walk(child)
        if block:
            parts.append("\n")
        if el.tail:
            parts.append(el.tail)

    walk(root)
    text = "".join(parts)
    # Single line breaks inside a block are layout; blank lines separate paragraphs.
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{2,}", "\n\n", text)
    return tidy(text)


def strip_tags(fragment: str | None) -> str:
    """One-line plain text (for titles)."""
    return " ".join(html_to_text(fragment).split())
