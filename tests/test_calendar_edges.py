"""The calendar's edges, each at a clock the test sets: ISO week 53 and a digest that runs across
the new year, `--since 30d` across month ends (search, entities), the export's month partitions
around a year boundary, and a page's date on New Year's Eve.

2026 has 53 ISO weeks (1 January 2026 is a Thursday): 2026-W53 runs from Monday 28 December 2026
to Sunday 3 January 2027, and 1 January 2027 belongs to it.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, date, datetime, timedelta
from email import policy

import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config.settings import with_overrides
from pipeline.digest.deliver import deliver_digest, load_digest
from pipeline.digest.model import last_complete_week, week_of
from pipeline.errors import DigestError
from pipeline.ingest import Services, run_cycle
from pipeline.ingest.writer import Writer
from pipeline.models import ArticleDraft
from pipeline.store.db import Warehouse
from pipeline.testkit.server import rss
from tests.helpers import article_page, paragraphs, set_clock, write_feeds

W53 = "2026-W53"
#: The Monday run after 2026-W53 (08:00 UTC): the digest it sends by default is 2026-W53's.
MONDAY_AFTER = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def bare_services(settings, embedder) -> Services:
    """A pipeline on a fresh warehouse without the seeds (they would be stored at today's date,
    whatever the clock of the test)."""
    services = Services(settings, embedder=embedder)
    services.warehouse.migrate()
    return services


# -- ISO week 53 ---------------------------------------------------------------------------------


def test_2026_has_a_week_53_that_ends_in_2027():
    week = week_of(W53, "UTC")
    assert (week.start, week.end) == (utc(2026, 12, 28), utc(2027, 1, 4))
    assert week.days() == [date(2026, 12, 28) + timedelta(days=i) for i in range(7)]
    assert week.previous().label == "2026-W52"
    assert week_of("2027-W01", "UTC").previous().label == W53
    for label in ("2027-W53", "2025-W53"):  # years of 52 weeks
        with pytest.raises(DigestError, match=f"{label[:4]} has no week 53"):
            week_of(label, "UTC")
    # On New Year's Eve the week of 31 December is still running; it is over on Monday 4 January.
    assert last_complete_week(utc(2026, 12, 31, 23, 30), "UTC").label == "2026-W52"
    assert last_complete_week(utc(2027, 1, 3, 23, 59), "UTC").label == "2026-W52"
    assert last_complete_week(utc(2027, 1, 4, 0, 10), "UTC").label == W53
    # In Berlin (UTC+1 in winter) the week ends an hour earlier, at midnight local time.
    berlin = week_of(W53, "Europe/Berlin")
    assert (berlin.start, berlin.end) == (utc(2026, 12, 27, 23), utc(2027, 1, 3, 23))
    assert last_complete_week(utc(2027, 1, 3, 23, 30), "Europe/Berlin").label == W53


def test_the_daemon_knows_the_digest_of_2026_w53_is_due(make_settings):
    from pipeline.app.daemon import digest_overdue

    settings = make_settings(
        '[schedule]\ndigest_day = "mon"\ndigest_time = "08:00"\ntimezone = "Europe/Berlin"\n'
    )
    # A daemon started on New Year's Day: Monday 28 December's digest time has passed.
    assert digest_overdue(settings, utc(2027, 1, 1, 12))
    # On Monday 4 January the week's digest time is 08:00 in Berlin (07:00 UTC).
    assert not digest_overdue(settings, utc(2027, 1, 4, 6, 30))
    assert digest_overdue(settings, utc(2027, 1, 4, 7, 30))


# -- the digest of 2026-W53 ----------------------------------------------------------------------

#: (id, title, first stored, topic); the warehouse keeps UTC.
NEW_YEAR = [
    (1, "Last Sunday of 2026-W52", utc(2026, 12, 27, 20), "sanctions"),
    (2, "Monday 28 December", utc(2026, 12, 28, 8), "sanctions"),
    (3, "New Year's Eve, late", utc(2026, 12, 31, 23, 30), "espionage"),
    (4, "New Year's Day, just after midnight", utc(2027, 1, 1, 0, 10), "sanctions"),
    (5, "Sunday 3 January, late", utc(2027, 1, 3, 23, 30), "espionage"),
    (6, "First Monday of 2027-W01", utc(2027, 1, 4, 0, 10), "sanctions"),
]


@pytest.fixture
def new_year(make_settings):
    """Settings (UTC, outbox delivery) and a warehouse holding NEW_YEAR, article 4 naming
    Spacety."""
    settings = make_settings(
        '[digest]\nrecipients = ["analyst@example.org"]\nsender = "newswatch@example.org"\n'
    )
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    with wh.transaction() as db:
        db.execute(
            "INSERT INTO feeds (url, config_url, title) VALUES ('http://a/f', 'http://a/f', 'Wire')"
        )
        for aid, title, when, topic in NEW_YEAR:
            db.execute(
                "INSERT INTO articles (id, source, feed_id, url, canonical_url, title, fetched_at, "
                "published_at, text, text_source, content_hash, word_count, story_id, relevance, "
                "on_topic) VALUES (?, 'feed', 1, ?, ?, ?, ?, ?, ?, 'page', ?, 10, ?, 0.7, TRUE)",
                [
                    aid,
                    f"https://n{aid}.example/a",
                    f"https://n{aid}.example/a",
                    title,
                    when,
                    when,
                    f"Text of {title}. More text.",
                    f"h{aid}",
                    aid,
                ],
            )
            db.execute(
                "INSERT INTO article_topics (article_id, topic, score, evidence) "
                "VALUES (?, ?, 0.8, '{}')",
                [aid, topic],
            )
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, evidence) "
            "VALUES (4, 'Spacety', 1, 0, 'Spacety')"
        )
    return settings, wh


def titles_of(model) -> set[str]:
    return {story.title for section in model.sections for story in section.stories}


def test_the_digest_of_2026_w53_holds_the_days_on_both_sides_of_new_year(new_year):
    settings, wh = new_year
    title = {aid: t for aid, t, _, _ in NEW_YEAR}
    # Sent by default on the Monday after: 2026-W53, Monday 28 December to Sunday 3 January.
    outcome = deliver_digest(settings, wh, now=MONDAY_AFTER)
    assert (outcome.week, outcome.status) == (W53, "written")
    with open(next(f for f in outcome.files if f.endswith(".eml")), "rb") as fh:
        message = email.message_from_bytes(fh.read(), policy=policy.default)
    assert W53 in message["Subject"] and "4 stories" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Mon 28 Dec 2026 to Sun 03 Jan 2027 (UTC)" in text
    model = load_digest(settings, wh, week_of(W53, "UTC"), MONDAY_AFTER)
    assert titles_of(model) == {title[2], title[3], title[4], title[5]}
    # The chart's days: Monday 28 December (article 2), Thursday 31 December (3), Friday
    # 1 January (4), Sunday 3 January (5).
    assert model.daily["sanctions"] == [1, 0, 0, 0, 1, 0, 0]
    assert model.daily["espionage"] == [0, 0, 0, 1, 0, 0, 1]
    # Compared with 2026-W52, which held article 1.
    assert {s.topic: s.previous for s in model.sections}["sanctions"] == 1
    assert [(e.entity, e.articles) for e in model.watchlist] == [("Spacety", 1)]
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week, status FROM digests") == [(W53, "written")]
        # Weekly entity counts go by ISO year too: 1 January 2027 is in 2026-W53, not 2027-W53.
        assert db.rows("SELECT iso_week, entity, articles FROM weekly_entity_counts") == [
            (W53, "Spacety", 1)
        ]
    assert deliver_digest(settings, wh, now=MONDAY_AFTER).status == "already_sent"

    # A week later 2027-W01 holds article 6 alone, compared with 2026-W53.
    following = load_digest(settings, wh, week_of("2027-W01", "UTC"), utc(2027, 1, 11, 8))
    assert titles_of(following) == {title[6]}
    assert {s.topic: s.previous for s in following.sections} == {
        **{s.topic: 0 for s in following.sections},
        "sanctions": 2,
        "espionage": 2,
    }


def test_2026_w53_in_berlin_ends_at_local_midnight(new_year):
    settings, wh = new_year
    berlin = with_overrides(settings, schedule={"timezone": "Europe/Berlin"})
    model = load_digest(berlin, wh, week_of(W53, "Europe/Berlin"), MONDAY_AFTER)
    # Article 5 (Sunday 23:30 UTC) was stored at 00:30 on Monday 4 January in Berlin: 2027-W01.
    assert titles_of(model) == {t for aid, t, _, _ in NEW_YEAR if aid in (2, 3, 4)}
    # Article 3 (23:30 UTC on 31 December) was stored on New Year's Day in Berlin.
    assert model.daily["espionage"] == [0, 0, 0, 0, 1, 0, 0]
    assert model.daily["sanctions"] == [1, 0, 0, 0, 1, 0, 0]


def test_2026_w53_is_refused_until_it_has_ended(new_year):
    settings, wh = new_year
    with pytest.raises(DigestError, match=r"2026-W53 has not ended: it ends Mon 04 Jan 2027 00:00"):
        deliver_digest(settings, wh, week=W53, now=utc(2027, 1, 3, 23, 30))
    assert deliver_digest(settings, wh, week=W53, now=utc(2027, 1, 4, 0, 0)).status == "written"


# -- --since 30d across month ends --------------------------------------------------------------

WATCH = '[[entities]]\nname = "Spacety"\nkind = "organisation"\n'

#: Three reports naming Spacety, each in words of its own (no copies, no shared story).
REPORTS = {
    "inside": (
        "Spacety radar satellite reaches orbit",
        "Spacety launched a radar satellite from Jiuquan; engineers praised the orbit insertion "
        "and the first pictures arrived within hours.",
    ),
    "outside": (
        "Auditors question Spacety contract",
        "Auditors questioned Spacety over a satellite imagery contract signed by its Luxembourg "
        "subsidiary before the export rules changed.",
    ),
    "recent": (
        "Court hears Spacety appeal",
        "Lawyers told a Changsha court that Spacety satellite exports broke no sanctions rule and "
        "asked judges to lift the asset freeze.",
    ),
}


@pytest.mark.parametrize(
    "now, published",
    [
        # Thirty days before the first Monday of 2027 is 5 December 2026, 00:10.
        pytest.param(
            utc(2027, 1, 4, 0, 10),
            {
                "inside": utc(2026, 12, 5, 6),
                "outside": utc(2026, 12, 4, 23),
                "recent": utc(2027, 1, 2, 12),
            },
            id="new-year",
        ),
        # Thirty days before 1 March 2027 is 30 January (February has 28 days), not 1 February.
        pytest.param(
            utc(2027, 3, 1, 10),
            {
                "inside": utc(2027, 1, 30, 12),
                "outside": utc(2027, 1, 29, 12),
                "recent": utc(2027, 2, 28, 12),
            },
            id="february",
        ),
    ],
)
def test_since_30d_is_thirty_days_back_across_month_ends(
    make_settings, fake_embedder, tmp_path, monkeypatch, now, published
):
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(WATCH, encoding="utf-8")
    settings = make_settings(f'[watchlist]\nfile = "{watchlist}"\n')
    services = bare_services(settings, fake_embedder)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"https://news.example/{key}",
            canonical_url=f"https://news.example/{key}",
            title=REPORTS[key][0],
            text=REPORTS[key][1],
            text_source="page",
            fetched_at=when,
            published_at=when,
            lang="en",
        )
        for key, when in published.items()
    ]
    writer = Writer(services)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        writer.start(db)
    writer.store(drafts)
    set_clock(monkeypatch, now, "pipeline.search.saved", "pipeline.cli.watch")
    monkeypatch.setattr("pipeline.embed.factory.make_embedder", lambda _settings: fake_embedder)
    expected = {REPORTS["inside"][0], REPORTS["recent"][0]}
    runner = CliRunner()
    base = ["--config", settings.source]

    def search(since: str) -> set[str]:
        out = runner.invoke(
            cli,
            [*base, "search", "Spacety", "--since", since, "--mode", "text", "--format", "json"],
        )
        assert out.exit_code == 0, out.output
        return {row["title"] for row in json.loads(out.stdout)}

    assert search("60d") == {title for title, _ in REPORTS.values()}
    assert search("30d") == expected
    assert search("1m") == expected  # a month is 30 days, whatever the calendar month
    counts = runner.invoke(cli, [*base, "entities", "--since", "30d", "--format", "json"])
    assert counts.exit_code == 0, counts.output
    [spacety] = json.loads(counts.stdout)
    assert (spacety["entity"], spacety["articles"]) == ("Spacety", 2)
    assert spacety["latest article"] == REPORTS["recent"][0]
    listed = runner.invoke(
        cli, [*base, "entities", "Spacety", "--since", "30d", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    assert {row["title"] for row in json.loads(listed.stdout)} == expected


# -- export: month partitions around the new year -----------------------------------------------

#: (published as the feed gives it, month in UTC): the partition is the UTC month, whatever the
#: publisher's zone.
DATED = [
    ("Thu, 31 Dec 2026 23:30:00 GMT", "2026-12"),
    ("Fri, 01 Jan 2027 00:10:00 GMT", "2027-01"),
    ("Thu, 31 Dec 2026 20:00:00 -0500", "2027-01"),  # 01:00 UTC on 1 January
    ("Fri, 01 Jan 2027 00:30:00 +0100", "2026-12"),  # 23:30 UTC on 31 December
]
WORDS = [
    "Treasury sanctions a shipping broker over drone parts bound for Tehran",
    "Prosecutors in Munich charge an engineer with passing rocket designs abroad",
    "A satellite operator loses its licence after selling imagery to a militia",
    "Customs seize machine tools routed through Armenia towards Russian factories",
]


def test_export_partitions_by_utc_month_around_new_year(
    make_settings, fake_embedder, loopback, tmp_path
):
    settings = make_settings("[ingest]\nfetch_pages = false\n")
    services = bare_services(settings, fake_embedder)
    items = [
        {
            "title": WORDS[i],
            "link": loopback.url(f"/a{i}.html"),
            "guid": f"g{i}",
            "description": f"{WORDS[i]}. " * 3,
            "pubDate": pub,
        }
        for i, (pub, _) in enumerate(DATED)
    ]
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/feed.xml")])
    assert run_cycle(services, now=utc(2027, 1, 4, 0, 10)).articles_new == 4
    out = tmp_path / "lake"
    base = ["--config", settings.source, "export", str(out)]
    runner = CliRunner()
    first = runner.invoke(cli, base)
    assert first.exit_code == 0, first.output
    assert {p.name for p in (out / "articles").iterdir()} == {"month=2026-12", "month=2027-01"}
    rows = ds.dataset(out / "articles", partitioning="hive").to_table().to_pylist()
    assert sorted((r["title"], r["month"]) for r in rows) == sorted(
        (WORDS[i], month) for i, (_, month) in enumerate(DATED)
    )
    stories = ds.dataset(out / "stories", partitioning="hive").to_table().to_pylist()
    assert sorted(s["month"] for s in stories) == ["2026-12", "2026-12", "2027-01", "2027-01"]

    def files(month: str) -> dict[str, tuple[int, int]]:
        """The month's Parquet files, each with the identity that a rewrite changes."""
        folder = out / "articles" / f"month={month}"
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.parquet")}

    # --since a month rewrites that month and the later ones only: December stays as it was.
    december, january = files("2026-12"), files("2027-01")
    since = runner.invoke(cli, [*base, "--since", "2027-01"])
    assert since.exit_code == 0, since.output
    assert "articles: 2 rows, 1 month(s) (2027-01 to 2027-01)" in since.output
    assert files("2026-12") == december
    assert files("2027-01").keys() == january.keys() and files("2027-01") != january
    assert ds.dataset(out / "articles", partitioning="hive").to_table().num_rows == 4
    manifest = json.loads((out / "_newswatch_export.json").read_text(encoding="utf-8"))
    assert manifest["since"] == "2027-01-01T00:00:00+00:00"
    # A day is widened to the start of its month: New Year's Eve rewrites December and January.
    widened = runner.invoke(cli, [*base, "--since", "2026-12-31"])
    assert widened.exit_code == 0, widened.output
    assert "articles: 4 rows, 2 month(s) (2026-12 to 2027-01)" in widened.output
    assert files("2026-12") != december
    assert ds.dataset(out / "articles", partitioning="hive").to_table().num_rows == 4


# -- a page's own date, late on New Year's Eve ------------------------------------------------


def test_a_page_dated_earlier_today_or_after_midnight_in_tokyo_keeps_its_date(monkeypatch):
    from pipeline.extract.article import extract_page

    def published(stamp: str) -> datetime | None:
        html = article_page("Year-end report", paragraphs("year-end")).replace(
            "<head>", f"<head><meta property='article:published_time' content='{stamp}'>"
        )
        page = extract_page(html.encode(), "https://news.example.jp/2026/year-end")
        assert page is not None
        return page.published_at

    set_clock(monkeypatch, utc(2026, 12, 31, 23, 30), "pipeline.extract.article")
    # Published three and a half hours ago: the time of day is kept, not cut to midnight.
    assert published("2026-12-31T20:00:00+00:00") == utc(2026, 12, 31, 20)
    # New Year's Day in Tokyo, half an hour ago: still New Year's Eve in UTC.
    assert published("2027-01-01T08:00:00+09:00") == utc(2026, 12, 31, 23)
    # A day earlier in the year, as before.
    assert published("2026-11-20T20:00:00+05:00") == utc(2026, 11, 20, 15)
