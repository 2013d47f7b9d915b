"""The HTML pages of one WARC file: response records with HTTP status 200 (fastwarc).

fastwarc is chosen over warcio by measurement (bench/backfill.py prints both readers' records/s
on the same files); warcio stays a test dependency, to write WARC files. Both read gzip per
record and plain WARC alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from pipeline.errors import NewswatchError
from pipeline.extract.article import looks_like_html
from pipeline.net.urls import web_url


class BadArchiveError(NewswatchError):
    """A file is not a readable WARC file (not WARC, not gzip, garbage, empty)."""


@dataclass(frozen=True)
class WarcPage:
    """One HTML response of an archive: the URL crawled, when, and the body."""

    url: str
    record_id: str | None
    crawled_at: datetime
    content_type: str | None
    body: bytes


@dataclass
class ReadCounts:
    """What reading one file met."""

    records: int = 0  # response records, whole or not
    html: int = 0  # of those: HTML with status 200
    bad: int = 0  # of those: truncated or unreadable, skipped
    not_web: int = 0  # of those: the target URI is not an http(s) URL (javascript:, data:, none)
    too_large: int = 0  # of those: a body over the cap, skipped unread
    problems: list[str] = field(default_factory=list)


def html_pages(
    stream: BinaryIO, counts: ReadCounts, max_bytes: int | None = None
) -> Iterator[WarcPage]:
    """Yield the HTML 200 responses of a WARC stream whose target is an http(s) URL, counting
    into `counts`; a truncated record, and one whose body is over `max_bytes` (the cap a
    fetched page has), is counted and skipped. Raises BadArchiveError when nothing in it is
    WARC."""
    try:
        for record in ArchiveIterator(
            stream, record_types=WarcRecordType.response, parse_http=True
        ):
            page = _page(record, counts, max_bytes)
            if page is not None:
                yield page
    except OSError as exc:  # fastwarc: "Invalid WARC header", gzip errors
        if counts.records == counts.bad:
            raise BadArchiveError(f"not a WARC file: {exc}") from None
        counts.bad += 1
        counts.problems.append(f"unreadable after record {counts.records}: {exc}")
    if counts.records == 0:
        # An empty file, or another format fastwarc silently yields nothing for.
        raise BadArchiveError("no WARC response records")
    if counts.records == counts.bad:
        raise BadArchiveError("no complete WARC record: " + "; ".join(counts.problems[:1]))


def _page(record: WarcRecord, counts: ReadCounts, max_bytes: int | None) -> WarcPage | None:
    counts.records += 1
    http = record.http_headers
    if http is None:
        counts.bad += 1
        counts.problems.append("record without HTTP headers (truncated?)")
        return None
    # An article's URL is a web link: a javascript:, data: or missing target is no page of
    # the web, and stored it would be a link in every page and digest that shows the article.
    url = web_url(record.headers.get("WARC-Target-URI"))
    if not url:
        counts.not_web += 1
        return None
    expected = record.content_length
    if max_bytes is not None and expected > max_bytes:
        # Skipped unread: the iterator moves past the rest of the record.
        counts.too_large += 1
        counts.problems.append(f"{url}: {expected} bytes; the cap is {max_bytes}")
        return None
    body = record.reader.read(expected) if max_bytes is not None else record.reader.read()
    if len(body) < expected:
        counts.bad += 1
        counts.problems.append(f"truncated record: {len(body)} of {expected} bytes")
        return None
    if http.status_code != 200:
        return None
    content_type = record.http_content_type
    raw_type = http.get("Content-Type")
    if not looks_like_html(raw_type or content_type, body):
        return None
    counts.html += 1
    crawled = record.record_date
    if crawled is None:
        crawled = datetime.now(UTC)
    elif crawled.tzinfo is None:
        crawled = crawled.replace(tzinfo=UTC)
    return WarcPage(
        url=url,
        record_id=record.headers.get("WARC-Record-ID"),
        crawled_at=crawled,
        content_type=raw_type or content_type,
        body=body,
    )
