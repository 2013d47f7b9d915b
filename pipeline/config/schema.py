"""What newswatch can be configured with: every settings section and key, declared once with its
type, default, help line and allowed values. The sections live by stage in
pipeline/config/sections/; this module assembles them into `Settings` (in the order `newswatch
config` prints them) and `SECTIONS`. pipeline/config/settings.py loads and validates against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from pipeline.config.sections.collect import (
    BackfillSettings,
    FeedsSettings,
    HttpSettings,
    IngestSettings,
    SeedsSettings,
    WarehouseSettings,
)
from pipeline.config.sections.finding import SearchSettings, TopicsSettings, WatchlistSettings
from pipeline.config.sections.output import (
    AlertsSettings,
    DigestSettings,
    LogSettings,
    ScheduleSettings,
    SmtpSettings,
    WebSettings,
)
from pipeline.config.sections.vectors import DedupSettings, EmbedSettings

__all__ = [
    "SECTIONS",
    "AlertsSettings",
    "BackfillSettings",
    "DedupSettings",
    "DigestSettings",
    "EmbedSettings",
    "FeedsSettings",
    "HttpSettings",
    "IngestSettings",
    "LogSettings",
    "ScheduleSettings",
    "SearchSettings",
    "SeedsSettings",
    "Settings",
    "SmtpSettings",
    "TopicsSettings",
    "WarehouseSettings",
    "WatchlistSettings",
    "WebSettings",
]


@dataclass(frozen=True)
class Settings:
    """The effective settings, validated; `source` names the settings file (or 'defaults')."""

    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    seeds: SeedsSettings = field(default_factory=SeedsSettings)
    topics: TopicsSettings = field(default_factory=TopicsSettings)
    watchlist: WatchlistSettings = field(default_factory=WatchlistSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    log: LogSettings = field(default_factory=LogSettings)
    web: WebSettings = field(default_factory=WebSettings)
    source: str = "defaults"


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Settings)
    if f.name != "source"
}
