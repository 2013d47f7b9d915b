"""Watchlist entities: matching (whole words, case, Chinese, Russian, overlaps), the file's
checks, the shipped starter list, storage with the article, edits picked up, retag, the CLI."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.ingest import run_cycle
from pipeline.tag.watchlist import WatchEntity, Watchlist, load_watchlist
from pipeline.testkit.server import rss
from tests.conftest import REPO, SEEDS
from tests.helpers import article_page, make_pipeline, paragraphs, write_feeds

SHIPPED = REPO / "config" / "watchlist.toml"


def wl(*entities: tuple[str, list[str]]) -> Watchlist:
    return Watchlist(
        tuple(WatchEntity(name, "organisation", (name, *aliases)) for name, aliases in entities)
    )


def found(w: Watchlist, text: str, title: str = "") -> dict[str, int]:
    return {m.entity: m.mentions for m in w.match(title, text)}


def test_whole_words_any_case_any_alias():
    w = wl(
        ("Spacety", ["Changsha Tianyi Space Science and Technology Research Institute"]),
        ("Wagner Group", ["PMC Wagner"]),
    )
    text = (
        "SPACETY denied it. The Changsha Tianyi Space Science and\n  Technology Research "
        "Institute, or spacety’s parent, and pmc wagner. Spacetyx and XSpacety are other "
        "words; PMC Wagnerite is too."
    )
    assert found(w, text) == {"Spacety": 3, "Wagner Group": 1}


def test_chinese_aliases_match_without_word_boundaries():
    w = wl(
        ("Spacety", ["长沙天仪空间科技", "天仪研究院"]),
        ("Ministry of State Security", ["国家安全部"]),
    )
    text = (
        "据报道，长沙天仪空间科技研究院有限公司（即天仪研究院）被美国制裁。国家安全部称破获间谍案。"
    )
    matches = {m.entity: m for m in w.match("", text)}
    assert matches["Spacety"].mentions == 2
    assert matches["Spacety"].first_offset == text.index("长沙")
    assert set(matches["Spacety"].aliases) == {"长沙天仪空间科技", "天仪研究院"}
    assert matches["Ministry of State Security"].mentions == 1
    # A Latin alias next to Chinese text still counts as a whole word.
    assert found(wl(("Spacety", [])), "美国制裁Spacety公司") == {"Spacety": 1}


def test_russian_aliases_with_quotes_and_declension():
    w = wl(("Wagner Group", ["ЧВК Вагнер", "Вагнер*"]), ("Terra Tech", ["Терра Тех"]))
    text = "Бойцы ЧВК «Вагнер» и командиры Вагнера получили снимки от АО «Терра Тех»."
    assert found(w, text) == {"Wagner Group": 2, "Terra Tech": 1}
    assert found(w, "Терра Техника") == {}  # whole words: not a longer word


def test_longest_alias_wins_where_aliases_overlap_and_offsets_point_into_the_text():
    w = wl(("Spacety", []), ("Spacety Luxembourg", []))
    text = "First   Spacety  Luxembourg was named, then Spacety itself."
    matches = {m.entity: m for m in w.match("Spacety title", text)}
    assert matches["Spacety Luxembourg"].mentions == 1
    assert matches["Spacety"].mentions == 2  # the title's mention counts too
    lux = matches["Spacety Luxembourg"]
    assert text[lux.first_offset :].startswith("Spacety  Luxembourg")
    assert text[matches["Spacety"].first_offset :].startswith("Spacety itself")
    assert "Spacety Luxembourg was named" in lux.evidence
    only_title = Watchlist(w.entities).match("Spacety in the title", "Nothing here.")
    assert only_title[0].first_offset is None and only_title[0].evidence == "Spacety in the title"


def test_file_checks(tmp_path):
    path = tmp_path / "watchlist.toml"
    cases = {
        '[[entities]]\nname = "A"\n': "kind is required",
        '[[entities]]\nname = "A"\nkind = "organisation"\ncolour = "red"\n': "unknown key 'colour'",
        '[[entities]]\nname = "A"\nkind = "organisation"\n[[entities]]\nname = "a"\n'
        'kind = "person"\n': "defined twice",
        '[[entities]]\nname = "Alpha"\nkind = "organisation"\naliases = ["Beta"]\n'
        '[[entities]]\nname = "Beta"\nkind = "organisation"\n': "may name one entity only",
        '[[entities]]\nname = "A"\nkind = "organisation"\ntags = ["Bad Tag"]\n': "lower-case",
        "entities = 3\n": "array of tables",
    }
    for text, problem in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=problem):
            load_watchlist(path)
    assert load_watchlist(tmp_path / "absent.toml").entities == ()


def test_shipped_watchlist_covers_the_seeds():
    w = load_watchlist(SHIPPED)
    assert len(w.entities) >= 25
    assert all(e.kind for e in w.entities)
    text = SHIPPED.read_text(encoding="utf-8")
    # Every entity says where it comes from, in the comment above it.
    for entity in w.entities:
        before = text[: text.index(f'name = "{entity.name}"')]
        last_comment = before.rstrip().rsplit("\n[[entities]]", 1)[0].rstrip().splitlines()[-1]
        assert last_comment.startswith("#"), entity.name
    seeds = {p.name[:3]: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    names = {k: {m.entity for m in w.match("", t)} for k, t in seeds.items()}
    assert {"Spacety", "Wagner Group", "People's Liberation Army"} <= names["000"]
    assert {"Spacety", "Spacety Luxembourg", "Terra Tech", "Mao Ning"} <= names["002"]
    assert {"Ministry of State Security", "Zhao Xuejun"} <= names["003"]
    assert {"Starlink", "Janet Yellen"} <= names["001"]


WATCH = """
[[entities]]
name = "Spacety"
kind = "organisation"
aliases = ["天仪研究院"]
tags = ["sanctioned"]
"""


@pytest.fixture
def watched(make_settings, fake_embedder, tmp_path, loopback):
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCH, encoding="utf-8")
    settings = make_settings(f'[watchlist]\nfile = "{path}"\n')
    services = make_pipeline(settings, fake_embedder)
    items = []
    bodies = [
        [
            f"Treasury names Spacety again in filing {k}; lawyers for the satellite firm "
            f"answered with letter {k * 3} and a statement on export licences."
            for k in range(6)
        ]
        + ["天仪研究院回应了制裁。"],
        [
            f"Terra Tech under scrutiny: auditors in Moscow reviewed contract {k}, a "
            f"ground-station lease and invoices numbered {k * 11}."
            for k in range(6)
        ],
    ]
    for i, title in enumerate(["Treasury names Spacety again", "Terra Tech under scrutiny"]):
        body = bodies[i]
        loopback.route(f"/{i}.html", article_page(title, body))
        items.append(
            {
                "title": title,
                "link": loopback.url(f"/{i}.html"),
                "guid": f"g{i}",
                "description": f"{title}.",
            }
        )
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/feed.xml")])
    return services, path


def entity_rows(services):
    with services.warehouse.connect(read_only=True) as db:
        return db.rows(
            "SELECT a.title, e.entity FROM article_entities e JOIN "
            "articles a ON a.id = e.article_id WHERE a.source = 'feed' ORDER BY 1, 2"
        )


def test_entities_are_stored_with_the_article_and_edits_apply_next_cycle(watched, loopback):
    services, path = watched
    run_cycle(services)
    assert entity_rows(services) == [("Treasury names Spacety again", "Spacety")]
    with services.warehouse.connect(read_only=True) as db:
        aliases, mentions, text, offset = db.one(
            "SELECT e.aliases, e.mentions, a.text, e.first_offset FROM article_entities e "
            "JOIN articles a ON a.id = e.article_id WHERE a.source = 'feed'"
        )
    assert set(aliases) == {"Spacety", "天仪研究院"}
    assert mentions == text.count("Spacety") + text.count("天仪研究院") + 1  # + the title
    assert text[offset:].startswith("Spacety")
    with services.warehouse.connect(read_only=True) as db:
        seeds = db.scalar(
            "SELECT count(*) FROM article_entities e JOIN articles a ON "
            "a.id = e.article_id WHERE a.source = 'seed'"
        )
    assert seeds == 2  # seeds 000 and 002 name Spacety
    # The daemon's next cycle uses the edited file; stored articles wait for retag.
    path.write_text(
        WATCH + '\n[[entities]]\nname = "Terra Tech"\nkind = "organisation"\n', encoding="utf-8"
    )
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    loopback.route("/2.html", article_page("Terra Tech again", paragraphs("Terra Tech again")))
    loopback.route(
        "/feed.xml",
        rss(
            [
                {
                    "title": "Terra Tech again",
                    "link": loopback.url("/2.html"),
                    "guid": "g2",
                    "description": "Terra Tech again.",
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    run_cycle(services, feeds=[loopback.url("/feed.xml")])
    rows = entity_rows(services)
    assert ("Terra Tech again", "Terra Tech") in rows
    assert not any(t == "Terra Tech under scrutiny" for t, _ in rows)
    from pipeline.ingest.upkeep import retag

    changes = retag(services)
    # The article stored before the edit, and seed 002, which names Terra Tech too.
    assert changes.entities == {"Terra Tech": {"added": 2, "removed": 0}}
    assert ("Terra Tech under scrutiny", "Terra Tech") in entity_rows(services)


def test_entities_command_lists_counts_and_latest_articles(watched):
    services, _ = watched
    run_cycle(services)
    runner = CliRunner()
    out = runner.invoke(cli, ["--config", services.settings.source, "entities", "--format", "json"])
    assert out.exit_code == 0, out.output
    import json

    rows = {r["entity"]: r for r in json.loads(out.output)}
    assert rows["Spacety"]["articles"] == 1 and rows["Spacety"]["stories"] == 1
    assert rows["Spacety"]["latest article"] == "Treasury names Spacety again"
    one = runner.invoke(
        cli, ["--config", services.settings.source, "entities", "spacety", "--format", "json"]
    )
    assert one.exit_code == 0, one.output
    [row] = json.loads(one.output)
    assert row["title"] == "Treasury names Spacety again" and "Spacety" in row["evidence"]
    with services.warehouse.connect(read_only=True) as db:
        weekly = db.rows("SELECT entity, articles, stories FROM weekly_entity_counts")
    assert weekly == [("Spacety", 1, 1)]
    missing = runner.invoke(cli, ["--config", services.settings.source, "entities", "Nobody"])
    assert missing.exit_code != 0 and "not in the watchlist" in missing.output
