"""A small reading room for the web tests: a warehouse of feed articles written through the single
writer (fake embedder), a story across two languages, a merged story, hostile content."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.ingest import Services
from pipeline.ingest.writer import Writer
from pipeline.models import ArticleDraft
from pipeline.store.db import Warehouse

#: The clock of every reading-room test.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

HOSTILE_TITLE = "<img src=x onerror=window.__x=1> Spacety sanctions update"

WATCHLIST = """
[[entities]]
name = "Spacety"
kind = "organisation"
aliases = ["Spacety Co., Ltd. (Changsha)", "天仪研究院"]

[[entities]]
name = "Wagner Group"
kind = "organisation"
aliases = ["PMC Wagner"]
"""

SANCTIONS = (
    "The Treasury sanctioned the Chinese satellite firm Spacety on Thursday for supplying radar "
    "imagery of Ukraine to the Wagner Group. Officials said the images helped PMC Wagner plan "
    "operations near Bakhmut. The firm's Luxembourg subsidiary was named as well. Spacety denied "
    "any wrongdoing and said it sells imagery to commercial customers only."
)
SANCTIONS_DE = (
    "Das US-Finanzministerium hat die chinesische Satellitenfirma Spacety mit Sanktionen belegt. "
    "Sie soll Radarbilder der Ukraine an die Wagner-Gruppe geliefert haben. Die Firma weist die "
    "Vorwürfe zurück und verkauft nach eigenen Angaben nur an kommerzielle Kunden."
)
HOSTILE_TEXT = (
    "A reader wrote in about Spacety and the sanctions. The letter said the firm's imagery of "
    "the front line was for sale to anyone who asked, and that nobody checked who the buyers were."
)
FESTIVAL = (
    "Boats, music and food filled the old harbour this weekend. Organisers counted record crowds "
    "for the festival, the largest since the harbour reopened after the storm two years ago."
)


@dataclass
class Room:
    """The test warehouse and what the tests look for in it."""

    settings: Any
    services: Services
    ids: dict[str, int]

    @property
    def warehouse(self) -> Warehouse:
        """The warehouse the reading room reads."""
        return self.services.warehouse

    def story_of(self, key: str) -> int:
        """The story id an article of the room belongs to."""
        with self.warehouse.connect(read_only=True) as db:
            return int(
                db.scalar(
                    "SELECT coalesce(story_id, id) FROM articles WHERE id = ?", [self.ids[key]]
                )
            )


def draft(
    title: str,
    text: str,
    *,
    url: str,
    lang: str = "en",
    hours_ago: float = 1.0,
    site: str = "Example News",
) -> ArticleDraft:
    """A feed article fetched `hours_ago` before NOW."""
    when = NOW - timedelta(hours=hours_ago)
    return ArticleDraft(
        source="feed",
        url=url,
        title=title,
        text=text,
        text_source="page",
        fetched_at=when,
        canonical_url=url,
        published_at=when,
        lang=lang,
        site_name=site,
    )


def store(services: Services, drafts: list[ArticleDraft]) -> list[int]:
    """Write drafts through the single writer; their ids."""
    writer = Writer(services)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        writer.start(db)
    return [a.id for a in writer.store(drafts)]


def build_room(make_settings: Any, tmp_path: Path, embedder: Any, extra: str = "") -> Room:
    """A migrated warehouse with the room's articles (no seeds: the pages show feed news)."""
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    settings = make_settings(f'[watchlist]\nfile = "{watchlist}"\n{extra}')
    services = Services(settings, embedder=embedder)
    services.warehouse.migrate()
    keys = ["sanctions", "copy", "sanctions_de", "hostile", "festival", "javascript"]
    drafts = [
        draft(
            "US sanctions Spacety over Wagner imagery",
            SANCTIONS,
            url="https://news.example/spacety",
            hours_ago=5,
            site="Wire",
        ),
        draft(
            "Spacety sanctioned (syndicated)",
            SANCTIONS,
            url="https://other.example/spacety-copy",
            hours_ago=4,
            site="Other Paper",
        ),
        draft(
            "Sanktionen gegen Spacety",
            SANCTIONS_DE,
            url="https://zeitung.example/spacety",
            lang="de",
            hours_ago=3,
            site="Zeitung",
        ),
        draft(
            HOSTILE_TITLE,
            HOSTILE_TEXT,
            url="https://bad.example/x",
            hours_ago=2,
            site="<b>Bad</b> Site",
        ),
        draft(
            "Harbour festival draws crowds",
            FESTIVAL,
            url="https://local.example/festival",
            hours_ago=30,
            site="Local",
        ),
        draft(
            "Link that is not a web link",
            FESTIVAL + " Again.",
            url="javascript:alert(document.domain)//x",
            hours_ago=20,
            site="Archive",
        ),
    ]
    ids = dict(zip(keys, store(services, drafts), strict=True))
    with services.warehouse.transaction() as db:
        # The German report joins the English story (as the multilingual model would decide;
        # how stories cross languages is tested in test_crosslingual.py), and every report is
        # on the theme so the front page lists it.
        story = db.scalar(
            "SELECT coalesce(story_id, id) FROM articles WHERE id = ?", [ids["sanctions"]]
        )
        db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [story, ids["sanctions_de"]])
        db.execute("UPDATE articles SET on_topic = true WHERE source = 'feed'")
        db.execute(
            "INSERT INTO article_topics (article_id, topic, score, evidence, matched_terms, "
            "passage) VALUES (?, 'sanctions', 0.91, ?, ['sanction', 'treasury'], ?)",
            [
                ids["sanctions"],
                '{"meaning": 0.71, "words": 3.0, "threshold": 0.5}',
                "The Treasury sanctioned the Chinese satellite firm Spacety",
            ],
        )
        # A story folded into the sanctions story by a later article.
        db.execute(
            "INSERT INTO story_merges (story_id, merged_into, current_id, article_id, merged_at, "
            "evidence) VALUES (999001, ?, ?, ?, ?, NULL)",
            [story, story, ids["sanctions_de"], NOW],
        )
    return Room(settings, services, ids)


def more(room: Room, title: str, text: str, url: str) -> int:
    """One more article, stored now (what a running ingest would add)."""
    [new] = store(room.services, [replace(draft(title, text, url=url, hours_ago=0.1))])
    with room.warehouse.transaction() as db:
        db.execute("UPDATE articles SET on_topic = true WHERE id = ?", [new])
    return new
