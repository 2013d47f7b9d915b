"""The feeds list: `config/feeds.toml` ([[feeds]] tables) and OPML import/export.

The file is the user's: edits keep its comments and layout (tomlkit), and it is re-read every
cycle, so changes take effect without a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import tomlkit
from lxml import etree

from pipeline.config.tomlfile import array_of_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.models import FeedConfig

_KEYS = {"url", "title", "interval_s", "tags", "allow_private"}


def _validate(item: object, where: str) -> FeedConfig:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: each [[feeds]] entry must be a table")
    unknown = set(item) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_KEYS))}"
        )
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: url is required (a non-empty string)")
    title = item.get("title")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{where}: title must be a string")
    interval = item.get("interval_s")
    if interval is not None and (
        not isinstance(interval, int)
        or isinstance(interval, bool)
        or not 1 <= interval <= 7 * 86400
    ):
        raise ConfigError(f"{where}: interval_s must be an integer from 1 to 604800 (seconds)")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{where}: tags must be a list of strings")
    allow_private = item.get("allow_private", False)
    if not isinstance(allow_private, bool):
        raise ConfigError(f"{where}: allow_private must be true or false")
    return FeedConfig(
        url=url.strip(),
        title=title,
        interval_s=interval,
        tags=tuple(tags),
        allow_private=allow_private,
    )


def load_feeds(path: Path, *, missing_ok: bool = False) -> tuple[FeedConfig, ...]:
    """Read and validate the feeds file; a missing file is a ConfigError unless `missing_ok`."""
    if not path.exists():
        if missing_ok:
            return ()
        raise ConfigError(
            f"{path}: feeds file not found; create it (`newswatch feeds add URL`) "
            f"or set [feeds] allow_missing = true to run without feeds"
        )
    items = array_of_tables(path, read_toml(path, "feeds file"), "feeds")
    out: list[FeedConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        feed = _validate(item, f"{path}: [[feeds]] #{i + 1}")
        if feed.url in seen:
            raise ConfigError(f"{path}: [[feeds]] #{i + 1}: {feed.url} is listed twice")
        seen.add(feed.url)
        out.append(feed)
    return tuple(out)


def _document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    return tomlkit.parse(path.read_text(encoding="utf-8"))


def _write(path: Path, doc: tomlkit.TOMLDocument) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def add_feeds(path: Path, feeds: Iterable[FeedConfig]) -> list[FeedConfig]:
    """Append feeds not listed yet (keeping comments); return the ones added."""
    existing = {f.url for f in load_feeds(path, missing_ok=True)}
    doc = _document(path)
    if "feeds" not in doc:
        doc.append("feeds", tomlkit.aot())
    added = []
    for feed in feeds:
        if feed.url in existing:
            continue
        table = tomlkit.table()
        table.add("url", feed.url)
        if feed.title:
            table.add("title", feed.title)
        if feed.interval_s:
            table.add("interval_s", feed.interval_s)
        if feed.tags:
            table.add("tags", list(feed.tags))
        if feed.allow_private:
            table.add("allow_private", True)
        doc["feeds"].append(table)
        existing.add(feed.url)
        added.append(feed)
    if added:
        _write(path, doc)
    return added


def remove_feed(path: Path, url: str) -> bool:
    """Remove a feed by URL; return whether it was listed."""
    doc = _document(path)
    items = doc.get("feeds")
    if items is None:
        return False
    for i, item in enumerate(items):
        if item.get("url") == url:
            del items[i]
            _write(path, doc)
            return True
    return False


def parse_opml(data: bytes) -> list[FeedConfig]:
    """Feeds from an OPML file (nested outlines; categories become tags)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"not an OPML file: {exc}") from None
    if root is None or etree.QName(root).localname.lower() != "opml":
        raise ConfigError("not an OPML file: the root element is not <opml>")
    out: list[FeedConfig] = []

    def walk(node: etree._Element, tags: tuple[str, ...]) -> None:
        for child in node:
            if not isinstance(child.tag, str) or etree.QName(child).localname != "outline":
                continue
            url = child.get("xmlUrl") or child.get("xmlurl")
            title = child.get("title") or child.get("text")
            if url:
                extra = tuple(
                    t.strip() for t in (child.get("category") or "").split(",") if t.strip()
                )
                out.append(FeedConfig(url=url.strip(), title=title, tags=tags + extra))
            else:
                walk(child, tags + ((title,) if title else ()))

    body = root.find("body")
    walk(body if body is not None else root, ())
    return out


def render_opml(feeds: Iterable[FeedConfig], title: str = "newswatch feeds") -> str:
    """An OPML 2.0 document listing the feeds (tags as categories)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{title}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = f'type="rss" text={quoteattr(feed.title or feed.url)} xmlUrl={quoteattr(feed.url)}'
        if feed.title:
            attrs += f" title={quoteattr(feed.title)}"
        if feed.tags:
            attrs += f" category={quoteattr(','.join(feed.tags))}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
