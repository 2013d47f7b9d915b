"""Topic tagging: keyword matching, configuration, a topic added in the file, retag, explain."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.ingest import run_cycle
from pipeline.tag.topics import load_topics, term_pattern
from pipeline.tag.topics_file import Term, fold, term_needle
from pipeline.testkit.server import rss
from tests.conftest import REPO
from tests.helpers import article_page, make_pipeline, write_feeds

SHIPPED = REPO / "config" / "topics.toml"


@pytest.mark.parametrize(
    "text,hit",
    [
        ("The firm was sanctioned on Monday.", True),
        ("New sanctions were announced.", True),
        ("Washington is sanctioning more banks.", True),
        ("A SANCTION regime", True),
        ("his sanctimonious tone", False),
        ("unsanctioned", False),
        ("sanction-busting networks", True),
    ],
)
def test_inflections_and_word_boundaries(text, hit):
    assert bool(term_pattern("sanction").search(text)) is hit


def test_phrases_and_irregular_plurals():
    assert term_pattern("spy").search("two spies were expelled")
    assert term_pattern("spy").search("he spied for Moscow")
    assert not term_pattern("spy").search("a spyware update")
    assert term_pattern("export control").search("new export-controls on chips")
    assert term_pattern("Entity List").search("added to the entity list")
    assert term_pattern("spy*").search("spyware") and term_pattern("ban").search("banned")


def test_the_substring_test_before_a_pattern_never_loses_a_match():
    # Every term of the shipped topics, and terms whose forms or letters are odd, against texts
    # holding them inflected, hyphenated, in capitals and with the four characters outside
    # ASCII that a case-insensitive pattern reads as ASCII letters.
    shipped = [
        t.text
        for topic in load_topics(SHIPPED, REPO / "config" / "seeds")
        for t in (*topic.keywords, *topic.context, *topic.negative)
    ]
    odd = [
        "spy",
        "use",
        "key",
        "ban",
        "espionage*",
        "export control",
        "Istanbul",
        "Kiel",
        "Roskosmos",
        "Роскосмос",
        "ΟΔΟΣ",
        "İzmir",
        "İzmir port",
        "Σύνοδος",
        "卫星",
        "Spacety",
        "U.S.",
    ]
    texts = [
        "Two spies used keys; export-controls banned espionage-related work in İSTANBUL.",
        "ıstanbul, \u212aIEL (the Kelvin sign), Roſkoſmos (the long s); Роскосмос, 卫星; "
        "οδοσ, ΣΎΝΟΔΟΣ; İzmir, izmir port, i\u0307zmir",
        "SPACETY's satellite imagery, U.S. sanctions and an EXPORT   CONTROL list.",
    ]
    texts += [" ".join(shipped).upper(), " ".join(t + "s" for t in shipped)]
    for text in texts:
        folded = fold(text)
        for word in shipped + odd:
            term = Term(word, 1.0, term_pattern(word), term_needle(word))
            assert term.found_in(text, folded) == bool(term.pattern.search(text)), (word, text)
    odd_cases = ("Istanbul", "Kiel", "Roskosmos", "Роскосмос", "卫星", "ΟΔΟΣ", "Σύνοδος")
    for word in odd_cases:  # each is found in the second text, as its pattern finds it
        assert Term(word, 1.0, term_pattern(word), term_needle(word)).found_in(
            texts[1], fold(texts[1])
        ), word
    assert term_needle("export control") == "export" and term_needle("city") == "cit"
    assert (
        term_needle("spy") == "sp"
        and term_needle("卫星") == "卫星"
        and term_needle("Роскосмос") == "роскосмос"
    )


def test_shipped_topics_are_valid():
    topics = load_topics(SHIPPED, REPO / "config" / "seeds")
    assert [t.slug for t in topics] == ["sanctions", "espionage", "satellite_support"]
    assert all(t.description and t.keywords and t.exemplars for t in topics)


@pytest.mark.parametrize(
    "body,message",
    [
        ('[[topics]]\nslug = "Bad Slug"\ndescription = "d"\nkeywords = ["x"]\n', "slug must be"),
        ('[[topics]]\nslug = "a"\nkeywords = ["x"]\n', "description is required"),
        ('[[topics]]\nslug = "a"\ndescription = "d"\nkeywords = []\n', "at least one term"),
        (
            '[[topics]]\nslug = "a"\ndescription = "d"\nkeywords = ["x"]\nthreshold = 2\n',
            "threshold must be a number from 0 to 1",
        ),
        (
            '[[topics]]\nslug = "a"\ndescription = "d"\nkeywords = ["x"]\ncolour = "red"\n',
            "unknown key 'colour'",
        ),
        ('[[topics]]\nslug = "a"\ndescription = "d"\nkeywords = {x = -1}\n', "weight of 'x'"),
        (
            '[[topics]]\nslug = "a"\ndescription = "d"\nkeywords = ["x"]\n'
            'exemplars = ["seed:nope.txt"]\n',
            "names no file",
        ),
    ],
)
def test_topic_file_errors_name_file_topic_and_key(tmp_path, body, message):
    path = tmp_path / "topics.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message) as err:
        load_topics(path, REPO / "config" / "seeds")
    assert str(path) in str(err.value)


FOURTH = """

[[topics]]
slug = "ransomware"
label = "Ransomware attacks"
description = "Criminal hackers encrypt an organisation's computers and demand a ransom."
threshold = 0.45
exemplars = [
    "The hospital's systems were encrypted by a ransomware gang that demanded payment in bitcoin.",
]

[topics.keywords]
"ransomware" = 2.0
"ransom" = 1.0
"encrypted" = 0.6
"""


@pytest.mark.model
def test_a_fourth_topic_in_the_file_works_end_to_end(make_settings, embedder, loopback, tmp_path):
    topics = tmp_path / "topics.toml"
    topics.write_text(SHIPPED.read_text() + FOURTH)
    settings = make_settings(f'[topics]\nfile = "{topics}"\n')
    services = make_pipeline(settings, embedder)
    paragraphs = [
        "A ransomware gang encrypted the computers of the city's hospital on Sunday and "
        "demanded a ransom of two million dollars in bitcoin.",
        "Doctors switched to paper records and ambulances were diverted to other hospitals "
        "while engineers restored the systems from backups.",
        "The attackers threatened to publish patient data unless the ransom was paid; the "
        "hospital said it would not pay and had informed the police.",
        "Security experts said ransomware attacks on hospitals had doubled this year.",
    ]
    weather = [
        "Sunny skies are expected for most of the week, with light winds and "
        "temperatures around twenty degrees.",
        "Forecasters said a cold front could bring showers at the weekend, mainly in the "
        "north, before another dry spell next week.",
    ] * 2
    loopback.route("/r.html", article_page("Hospital hit by ransomware", paragraphs))
    loopback.route("/w.html", article_page("Pleasant week ahead", weather))
    loopback.route(
        "/feed.xml",
        rss(
            [
                {
                    "title": "Hospital hit by ransomware",
                    "link": loopback.url("/r.html"),
                    "guid": "r",
                },
                {"title": "Pleasant week ahead", "link": loopback.url("/w.html"), "guid": "w"},
            ]
        ),
        content_type="application/rss+xml",
    )
    write_feeds(settings, [loopback.url("/feed.xml")])
    summary = run_cycle(services)
    assert summary.per_topic == {"ransomware": 1}
    with services.warehouse.connect(read_only=True) as db:
        rows = db.dicts(
            "SELECT a.title, a.on_topic, t.topic, t.matched_terms, t.passage "
            "FROM articles a LEFT JOIN article_topics t ON t.article_id = a.id "
            "WHERE a.source = 'feed' ORDER BY a.id"
        )
    tagged = {r["title"]: r for r in rows}
    ransom = tagged["Hospital hit by ransomware"]
    assert ransom["topic"] == "ransomware" and "ransomware" in ransom["matched_terms"]
    assert 0 < len(ransom["passage"]) <= 300 and "ransom" in ransom["passage"].lower()
    weather_row = tagged["Pleasant week ahead"]
    assert weather_row["topic"] is None and weather_row["on_topic"] is False  # off-topic


@pytest.mark.model
def test_retag_follows_a_threshold_change_and_explain_shows_why(make_settings, embedder, tmp_path):
    topics = tmp_path / "topics.toml"
    topics.write_text(SHIPPED.read_text())
    settings = make_settings(f'[topics]\nfile = "{topics}"\n')
    services = make_pipeline(settings, embedder)
    with services.warehouse.connect(read_only=True) as db:
        before = db.rows("SELECT article_id, topic FROM article_topics ORDER BY 1, 2")
    assert "espionage" in {t for _, t in before}
    # Raise the espionage threshold above any score: retag removes those tags.
    text = topics.read_text().replace(
        'label = "Espionage and counter-intelligence"',
        'label = "Espionage and counter-intelligence"\nthreshold = 1.0',
        1,
    )
    text = text.replace(
        "threshold = 0.5\nsemantic_weight = 0.55\nsim_floor = 0.25\n"
        'sim_ceiling = 0.55\nexemplars = [\n    "The Ministry',
        "semantic_weight = 0.55\nsim_floor = 0.25\nsim_ceiling = 0.55\n"
        'exemplars = [\n    "The Ministry',
        1,
    )
    topics.write_text(text)
    result = CliRunner().invoke(cli, ["--config", settings.source, "retag"])
    assert result.exit_code == 0, result.output
    assert "espionage: 0 added, 2 removed" in result.output
    with services.warehouse.connect(read_only=True) as db:
        after = db.rows("SELECT article_id, topic FROM article_topics ORDER BY 1, 2")
        seed3 = db.scalar("SELECT id FROM articles WHERE url LIKE 'seed:003%'")
    assert [r for r in before if r[1] != "espionage"] == after
    explained = CliRunner().invoke(cli, ["--config", settings.source, "explain", str(seed3)])
    assert explained.exit_code == 0, explained.output
    assert "espionage" in explained.output and "no topic stored" in explained.output
    missing = CliRunner().invoke(cli, ["--config", settings.source, "explain", "99999"])
    assert missing.exit_code != 0 and "no article" in missing.output


@pytest.mark.model
def test_seeds_get_exactly_their_topics(make_settings, embedder):
    services = make_pipeline(make_settings(), embedder)
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT a.url, list(t.topic ORDER BY t.topic) FROM articles a "
            "LEFT JOIN article_topics t ON t.article_id = a.id "
            "WHERE a.source = 'seed' GROUP BY a.url ORDER BY a.url"
        )
        relevance = db.rows("SELECT relevance, on_topic FROM articles WHERE source = 'seed'")
    tags = {Path(url.removeprefix("seed:")).name[:3]: topics for url, topics in rows}
    assert tags == {
        "000": ["sanctions", "satellite_support"],
        "001": ["sanctions", "satellite_support"],
        "002": ["sanctions", "satellite_support"],
        "003": ["espionage"],
        "004": ["espionage"],
    }
    assert all(r == pytest.approx(1.0, abs=1e-3) and on for r, on in relevance)


def test_an_edited_topics_file_applies_to_the_next_cycle(make_settings, fake_embedder, tmp_path):
    import os

    topics = tmp_path / "topics.toml"
    topics.write_text(SHIPPED.read_text())
    services = make_pipeline(make_settings(f'[topics]\nfile = "{topics}"\n'), fake_embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    assert len(services.tagger.topics) == 3
    topics.write_text(SHIPPED.read_text() + FOURTH)
    os.utime(topics, ns=(topics.stat().st_atime_ns, topics.stat().st_mtime_ns + 10**9))
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    assert [t.slug for t in services.tagger.topics][-1] == "ransomware"
