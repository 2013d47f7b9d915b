"""One archive file's pages into the warehouse, for the backfill's client (pipeline/backfill/
run.py): in publication order, each canonical URL once, pages whose URL is stored already left
out, the rest in batches through the ingest writer under the writer lock; the file is recorded
as done in the transaction of its last batch, or as failed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.app.jobs import writer_lock
from pipeline.backfill.sources import ArchiveFile
from pipeline.backfill.summary import BackfillSummary
from pipeline.backfill.worker import FileResult, from_arrow
from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.ingest.writer import BatchNotWrittenError, Writer
from pipeline.models import ArticleDraft, Embedding, StoredArticle
from pipeline.store import articles as article_store
from pipeline.store import backfill as backfill_store
from pipeline.store.db import Db

log = logging.getLogger(__name__)

#: Pages listed by a dry run's summary (the counts cover all).
DRY_RUN_LIST = 200


def store_file(
    services: Services,
    writer: Writer,
    file: ArchiveFile,
    result: FileResult,
    dry_run: bool,
    summary: BackfillSummary,
    lock_wait_s: float,
) -> None:
    """Count what a worker read in one file and store its pages (or, in a dry run, list what
    would be stored); a file that failed, or whose batch could not be written, is recorded as
    failed."""
    c = summary.counts
    counts = result.counts
    for key, name in (
        ("records", "records"),
        ("html_pages", "html_pages"),
        ("bad_records", "bad_records"),
        ("not_web_urls", "not_web_urls"),
        ("too_large", "too_large"),
        ("extracted", "extracted"),
        ("in_window", "in_window"),
        ("passed", "passed_prefilter"),
    ):
        c[name] += counts.get(key, 0)
    if result.problems:
        log.warning(
            "%s: %d bad and %d too large records skipped (%s)",
            file.path,
            counts.get("bad_records", 0),
            counts.get("too_large", 0),
            result.problems[0],
        )
    if result.error is not None:
        record_failure(services, file, result.error, summary, dry_run, lock_wait_s)
        return
    drafts, embeddings, why = from_arrow(result.table, file.path)
    # Deduplication runs in publication order within a file (files come in name order).
    order = sorted(
        range(len(drafts)), key=lambda i: (drafts[i].published_at or drafts[i].fetched_at, i)
    )
    seen: set[str] = set()
    keep = []
    for i in order:
        url = drafts[i].canonical_url or drafts[i].url
        if url in seen:
            c["known_urls"] += 1
            continue
        seen.add(url)
        keep.append(i)
    if dry_run:
        _dry_run(services, drafts, why, keep, summary)
        c["sources_done"] += 1
        return
    try:
        _write(services, writer, file, drafts, embeddings, keep, counts, summary, lock_wait_s)
    except BatchNotWrittenError as exc:
        record_failure(services, file, str(exc), summary, dry_run, lock_wait_s)
        return
    c["sources_done"] += 1


def _dry_run(
    services: Services,
    drafts: list[ArticleDraft],
    why: list[str],
    keep: list[int],
    summary: BackfillSummary,
) -> None:
    known: dict[str, int] = {}
    if services.warehouse.exists():
        with services.warehouse.connect(read_only=True) as db:
            known = article_store.existing_canonical_urls(
                db, [u for i in keep if (u := drafts[i].canonical_url)]
            )
    for i in keep:
        if drafts[i].canonical_url in known:
            summary.counts["known_urls"] += 1
        else:
            summary.counts["stored"] += 1  # would be stored (duplicates are not decided)
            if len(summary.would_store) < DRY_RUN_LIST:
                summary.would_store.append((drafts[i], why[i]))


def _write(
    services: Services,
    writer: Writer,
    file: ArchiveFile,
    drafts: list[ArticleDraft],
    embeddings: list[Embedding] | None,
    keep: list[int],
    counts: dict[str, int],
    summary: BackfillSummary,
    lock_wait_s: float,
) -> None:
    size = services.settings.backfill.batch_size
    batches = [keep[k : k + size] for k in range(0, len(keep), size)] or [[]]
    totals = {**counts, "stored": 0, "duplicates": 0}
    for n, batch in enumerate(batches):
        last = n == len(batches) - 1
        batch_embeddings = [embeddings[i] for i in batch] if embeddings is not None else None
        stored = _write_batch(
            services,
            writer,
            file,
            [drafts[i] for i in batch],
            batch_embeddings,
            totals if last else None,
            summary,
            lock_wait_s,
        )
        dups = sum(a.dedup.duplicate_of is not None for a in stored)
        log.debug(
            "backfill batch written: %d articles (%d duplicates) from %s%s",
            len(stored),
            dups,
            file.path,
            ", file done" if last else "",
        )
        totals["stored"] += len(stored)
        totals["duplicates"] += dups
        summary.counts["stored"] += len(stored)
        summary.counts["duplicates"] += dups


def _write_batch(
    services: Services,
    writer: Writer,
    file: ArchiveFile,
    drafts: list[ArticleDraft],
    embeddings: list[Embedding] | None,
    done: dict[str, int] | None,
    summary: BackfillSummary,
    lock_wait_s: float,
) -> list[StoredArticle]:
    """Store one batch under the writer lock, leaving out pages whose canonical URL is stored
    by now; given the file's totals so far (`done`), the file is recorded as done in the same
    transaction."""
    with writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s):
        with services.warehouse.connect(read_only=True) as db:
            services.refresh(db)
            writer.start(db)
            known = article_store.existing_canonical_urls(
                db, [d.canonical_url for d in drafts if d.canonical_url]
            )
        fresh = [k for k, d in enumerate(drafts) if d.canonical_url not in known]
        summary.counts["known_urls"] += len(drafts) - len(fresh)

        def mark_done(db: Db, stored: Sequence[StoredArticle]) -> None:
            if done is not None:
                backfill_store.record(
                    db,
                    file.path,
                    file.key,
                    "done",
                    {
                        **done,
                        "stored": done["stored"] + len(stored),
                        "duplicates": done["duplicates"]
                        + sum(a.dedup.duplicate_of is not None for a in stored),
                    },
                )

        if fresh:
            return writer.store(
                [drafts[k] for k in fresh],
                mark_done,
                embeddings=[embeddings[k] for k in fresh] if embeddings is not None else None,
            )
        with services.warehouse.transaction() as db:
            mark_done(db, [])
        return []


def record_failure(
    services: Services,
    file: ArchiveFile,
    error: str,
    summary: BackfillSummary,
    dry_run: bool,
    lock_wait_s: float,
) -> None:
    """Count a file that failed and record it as failed (not in a dry run): a rerun reads it
    again."""
    log.warning("%s: skipped: %s", file.path, error)
    summary.failed.append((file.path, error))
    summary.counts["sources_failed"] += 1
    if dry_run:
        return
    try:
        with (
            writer_lock(services.warehouse, "backfill", wait_s=lock_wait_s),
            services.warehouse.transaction() as db,
        ):
            backfill_store.record(db, file.path, file.key, "failed", {}, error)
    except NewswatchError as exc:
        log.warning("could not record the failure of %s: %s", file.path, exc)
