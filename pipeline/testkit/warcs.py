"""Small real WARC files for tests and benchmarks, written with warcio (gzip per record)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class Record:
    """One HTTP response to archive."""

    url: str
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    date: datetime = datetime(2024, 3, 1, tzinfo=UTC)


_REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error"}


def write_warc(
    path: Path, records: Sequence[Record], *, truncate_last: int = 0, with_request: bool = True
) -> Path:
    """Write records as WARC response records (a request record before each, as crawlers do);
    `truncate_last` cuts that many bytes off the end of the file (a crash mid-write)."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for rec in records:
        date = rec.date.strftime("%Y-%m-%dT%H:%M:%SZ")
        if with_request:
            req = StatusAndHeaders(
                f"GET {rec.url} HTTP/1.1", [("User-Agent", "test")], is_http_request=True
            )
            _write(
                writer,
                writer.create_warc_record(
                    rec.url,
                    "request",
                    payload=io.BytesIO(b""),
                    http_headers=req,
                    warc_headers_dict={"WARC-Date": date},
                ),
            )
        headers = StatusAndHeaders(
            f"{rec.status} {_REASONS.get(rec.status, 'Status')}",
            [("Content-Type", rec.content_type), ("Content-Length", str(len(rec.body)))],
            protocol="HTTP/1.1",
        )
        _write(
            writer,
            writer.create_warc_record(
                rec.url,
                "response",
                payload=io.BytesIO(rec.body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            ),
        )
    data = buf.getvalue()
    path.write_bytes(data[: len(data) - truncate_last] if truncate_last else data)
    return path


def _write(writer: WARCWriter, record: ArcWarcRecord) -> None:
    writer.write_record(record)
    # warcio copies a payload of unstated length into a temporary file to digest it.
    record.raw_stream.close()
