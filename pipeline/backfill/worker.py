"""One archive file → a compact Arrow table of its extracted, filtered, embedded pages.

This runs on the Dask workers (or in the client with `--workers 0`): read the HTML responses,
extract them with the ingest's own extractor and options, keep those published in the asked
window, prefilter, and embed only what passes. Each worker process loads the model once (a
module-level cache keyed by the embed settings) from the packaged files: no network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np

from pipeline.backfill.prefilter import Prefilter, PrefilterSpec
from pipeline.backfill.warc import BadArchiveError, ReadCounts, WarcPage, html_pages
from pipeline.config.settings import EmbedSettings
from pipeline.embed.english import Embedder
from pipeline.extract.article import extract_page
from pipeline.ingest.draft import entry_canonical
from pipeline.models import ArticleDraft, Chunk, Embedding
from pipeline.net.urls import pick_canonical

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerJob:
    """What every file's task needs, as plain data (workers may have no config files)."""

    embed: EmbedSettings
    prefilter: PrefilterSpec
    since: datetime | None = None
    until: datetime | None = None
    embed_pages: bool = True  # False (--dry-run): read and filter only
    max_body_bytes: int | None = None  # a record's largest body ([http] max_body_bytes)


@dataclass(frozen=True)
class FileResult:
    """What one archive file gave: its pages as an Arrow table, counts, or why it failed."""

    path: str
    table: Any = None  # pyarrow.Table (None when the file failed)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    problems: tuple[str, ...] = ()
    seconds: float = 0.0


_EMBEDDERS: dict[EmbedSettings, Any] = {}
_PREFILTERS: dict[PrefilterSpec, Prefilter] = {}
_CACHE_LOCK = threading.Lock()


def embedder_for(settings: EmbedSettings) -> Any:
    """This process's embedder for these settings, built once (the model loads on first use).
    `settings.cache_dir` is resolved by the client (the ONNX graphs' folder)."""
    with _CACHE_LOCK:
        found = _EMBEDDERS.get(settings)
        if found is None:
            # One model thread per Dask worker process: n workers then use n cores.
            found = _EMBEDDERS[settings] = Embedder(
                settings.model,
                settings.sha256,
                batch_size=settings.batch_size,
                overlap_tokens=settings.chunk_overlap_tokens,
                device=settings.device,
                max_chunks=settings.max_chunks,
                backend=settings.backend,
                precision=settings.precision,
                cache_dir=Path(settings.cache_dir) if settings.cache_dir else None,
                threads=settings.threads or 1,
            )
        return found


def use_embedder(settings: EmbedSettings, embedder: Any) -> None:
    """Make this process's tasks use an embedder already loaded (the serial path, tests)."""
    with _CACHE_LOCK:
        _EMBEDDERS[settings] = embedder


def _prefilter_for(spec: PrefilterSpec) -> Prefilter:
    with _CACHE_LOCK:
        found = _PREFILTERS.get(spec)
        if found is None:
            found = _PREFILTERS[spec] = Prefilter(spec)
        return found


def process_file(path: str, job: WorkerJob) -> FileResult:
    """Read, extract, filter and embed one archive file (the Dask task)."""
    t0 = time.perf_counter()
    counts = ReadCounts()
    try:
        with fsspec.open(path, "rb") as stream:
            pages = list(_keep(html_pages(stream, counts, job.max_body_bytes), job))
    except BadArchiveError as exc:
        return FileResult(path, error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # fsspec backends and decompressors raise their own kinds
        return FileResult(
            path, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0
        )
    extracted, in_window, passed = _tally(pages)
    kept = [(d, why) for d, why in pages if d is not None and why]
    embeddings = None
    if job.embed_pages and kept:
        embedder = embedder_for(job.embed)
        embeddings = embedder.embed([d.text for d, _ in kept])
        # Headline vectors too (stories compare them), as the writer would embed them.
        titles = embedder.encode([d.title or "" for d, _ in kept])
        embeddings = [
            replace(e, title_vector=np.asarray(v, dtype=np.float32))
            for e, v in zip(embeddings, titles, strict=True)
        ]
    table = to_arrow(kept, embeddings)
    return FileResult(
        path,
        table=table,
        counts={
            "records": counts.records,
            "html_pages": counts.html,
            "bad_records": counts.bad,
            "not_web_urls": counts.not_web,
            "too_large": counts.too_large,
            "extracted": extracted,
            "in_window": in_window,
            "passed": passed,
        },
        problems=tuple(counts.problems[:5]),
        seconds=time.perf_counter() - t0,
    )


def _tally(pages: list[tuple[ArticleDraft | None, str | None]]) -> tuple[int, int, int]:
    extracted = sum(1 for d, why in pages if why != _EMPTY)
    in_window = sum(1 for d, why in pages if d is not None)
    passed = sum(1 for d, why in pages if d is not None and why)
    return extracted, in_window, passed


_EMPTY = "\0empty"  # extraction found no article text


def _keep(
    pages: Iterable[WarcPage], job: WorkerJob
) -> Iterator[tuple[ArticleDraft | None, str | None]]:
    """(draft, why it passed) per HTML page: draft None when empty or outside the window
    (why _EMPTY when extraction found nothing), why None when the prefilter refused it."""
    prefilter = _prefilter_for(job.prefilter)
    for page in pages:
        draft = page_draft(page)
        if draft is None:
            yield None, _EMPTY
            continue
        when = draft.published_at or draft.fetched_at
        if (job.since is not None and when < job.since) or (
            job.until is not None and when >= job.until
        ):
            yield None, None
            continue
        yield draft, prefilter.reason(draft.title, draft.text)


def page_draft(page: WarcPage) -> ArticleDraft | None:
    """The article of an archived page, extracted as ingest extracts pages; None if empty."""
    try:
        extract = extract_page(page.body, page.url, content_type=page.content_type)
    except Exception as exc:  # lxml/trafilatura on hostile markup: one page, not the file
        log.debug("%s: extraction failed: %s", page.url, exc)
        return None
    if extract is None:
        return None
    canonical: str | None
    try:
        canonical = pick_canonical(page.url, extract.canonical_url)
    except Exception:  # an odd canonical link keeps the crawled URL
        canonical = entry_canonical(page.url)
    text = extract.text
    title = extract.title or text.split("\n", 1)[0][:120] or "(untitled)"
    return ArticleDraft(
        source="feed",
        url=page.url,
        canonical_url=canonical,
        title=title,
        text=text,
        text_source="page",
        text_source_reason="archived page",
        fetched_at=page.crawled_at,
        author=extract.author,
        published_at=extract.published_at,
        lang=extract.lang,
        site_name=extract.site_name,
        description=extract.description,
        archive_source=None,
        archive_record_id=page.record_id,
    )


# -- Arrow -----------------------------------------------------------------------------------

_TEXT_COLUMNS = (
    "url",
    "canonical_url",
    "title",
    "text",
    "author",
    "lang",
    "site_name",
    "description",
    "archive_record_id",
    "passed_by",
)


def to_arrow(kept: list[tuple[ArticleDraft, str]], embeddings: list[Embedding] | None) -> Any:
    """The kept pages as one Arrow table: text columns, times, and (if embedded) the article
    vector and chunk spans and vectors as fixed-size float32 lists."""
    import pyarrow as pa  # heavy (~0.2 s): only the tables a worker hands back need it

    drafts = [d for d, _ in kept]
    cols: dict[str, Any] = {}
    for name in _TEXT_COLUMNS:
        values = (
            [why for _, why in kept] if name == "passed_by" else [getattr(d, name) for d in drafts]
        )
        cols[name] = pa.array(values, pa.string())
    ts = pa.timestamp("us", tz="UTC")
    cols["published_at"] = pa.array([d.published_at for d in drafts], ts)
    cols["fetched_at"] = pa.array([d.fetched_at for d in drafts], ts)
    metadata = {}
    if embeddings is not None:
        dim = int(embeddings[0].vector.shape[0]) if embeddings else 0
        vec = pa.list_(pa.float32(), dim)
        cols["vector"] = (
            pa.FixedSizeListArray.from_arrays(
                pa.array(np.concatenate([e.vector for e in embeddings]).astype(np.float32)), dim
            )
            if embeddings
            else pa.array([], vec)
        )
        cols["windows"] = pa.array([e.windows for e in embeddings], pa.int32())
        for part in ("start_char", "end_char", "tokens"):
            cols[f"chunk_{part}"] = pa.array(
                [[getattr(c, part) for c in e.chunks] for e in embeddings], pa.list_(pa.int32())
            )
        flat = [c.vector for e in embeddings for c in e.chunks]
        chunk_vectors = pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate(flat).astype(np.float32) if flat else [], pa.float32()), dim
        )
        offsets = np.cumsum([0] + [len(e.chunks) for e in embeddings]).astype(np.int32)
        cols["chunk_vectors"] = pa.ListArray.from_arrays(pa.array(offsets), chunk_vectors)
        if embeddings and all(e.title_vector is not None for e in embeddings):
            cols["title_vector"] = pa.FixedSizeListArray.from_arrays(
                pa.array(np.concatenate([e.title_vector for e in embeddings]).astype(np.float32)),
                dim,
            )
        metadata = {b"model": (embeddings[0].model if embeddings else "").encode()}
    table = pa.table(cols)
    return table.replace_schema_metadata(metadata) if metadata else table


def from_arrow(
    table: Any, archive_source: str
) -> tuple[list[ArticleDraft], list[Embedding] | None, list[str]]:
    """Drafts (with their archive file), embeddings (None when not embedded) and why each
    passed the prefilter, back from a worker's table."""
    plain = [c for c in table.column_names if c not in ("vector", "chunk_vectors", "title_vector")]
    rows = table.select(plain).to_pydict()
    n = table.num_rows
    drafts = [
        ArticleDraft(
            source="feed",
            url=rows["url"][i],
            canonical_url=rows["canonical_url"][i],
            title=rows["title"][i],
            text=rows["text"][i],
            text_source="page",
            text_source_reason="archived page",
            fetched_at=rows["fetched_at"][i],
            author=rows["author"][i],
            published_at=rows["published_at"][i],
            lang=rows["lang"][i],
            site_name=rows["site_name"][i],
            description=rows["description"][i],
            archive_source=archive_source,
            archive_record_id=rows["archive_record_id"][i],
        )
        for i in range(n)
    ]
    if "vector" not in table.column_names:
        return drafts, None, rows["passed_by"]
    model = (table.schema.metadata or {}).get(b"model", b"").decode()
    vectors = _matrix(table.column("vector"))
    titles = _matrix(table.column("title_vector")) if "title_vector" in table.column_names else None
    chunk_col = table.column("chunk_vectors").combine_chunks()
    chunk_matrix = _matrix(chunk_col.flatten())
    offsets = chunk_col.offsets.to_numpy()
    embeddings = []
    for i in range(n):
        block = chunk_matrix[offsets[i] : offsets[i + 1]]
        chunks = tuple(
            Chunk(int(s), int(e), int(t), block[k].copy())
            for k, (s, e, t) in enumerate(
                zip(
                    rows["chunk_start_char"][i],
                    rows["chunk_end_char"][i],
                    rows["chunk_tokens"][i],
                    strict=True,
                )
            )
        )
        embeddings.append(
            Embedding(
                model,
                vectors[i].copy(),
                chunks,
                windows=int(rows["windows"][i]),
                title_vector=titles[i].copy() if titles is not None else None,
            )
        )
    return drafts, embeddings, rows["passed_by"]


def _matrix(column: Any) -> np.ndarray:
    import pyarrow as pa  # heavy: see to_arrow

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dim = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
