"""What one backfill did: the counts the run and the file writer keep, the files that failed,
and what a dry run would store (shared by run.py and writing.py, below both)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.models import ArticleDraft


@dataclass
class BackfillSummary:
    """What one backfill did."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "sources",
                "sources_done",
                "sources_failed",
                "sources_skipped",
                "records",
                "html_pages",
                "bad_records",
                "not_web_urls",
                "too_large",
                "extracted",
                "in_window",
                "passed_prefilter",
                "known_urls",
                "stored",
                "duplicates",
                "workers",
            ),
            0,
        )
    )
    failed: list[tuple[str, str]] = field(default_factory=list)
    would_store: list[tuple[ArticleDraft, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
