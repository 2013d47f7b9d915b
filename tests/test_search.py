"""Search: the analyzer, fusion and folding, the term index the writer keeps, filters, saved
searches and their alert matching, and `newswatch search` (read-only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config.settings import with_overrides
from pipeline.errors import ConfigError, SearchError, WatchlistMissingError
from pipeline.ingest.upkeep import compact_search_index, index_for_search
from pipeline.ingest.writer import Writer
from pipeline.models import ArticleDraft, SearchFilters
from pipeline.search.engine import VectorSource, prepare, search
from pipeline.search.passages import best_passage
from pipeline.search.rank import fold, reciprocal_rank_fusion
from pipeline.search.saved import SavedSearches, load_searches, parse_since
from pipeline.search.terms import analyze, index_terms, parse_query, phrase_pattern
from pipeline.store import articles as article_store
from pipeline.store import search as search_store
from tests.helpers import make_pipeline

NOW = datetime.now(UTC)

ARTICLES = [
    (
        "Treasury sanctions satellite imagery firm",
        "The Treasury sanctioned a satellite imagery company on Monday. Officials said the firm "
        "sold radar pictures of the front line. The company denied it.",
        2,
    ),
    (
        "Weather satellite reaches orbit",
        "A new weather satellite reached orbit after launch from the coast. Forecasters expect "
        "better storm warnings next winter.",
        40,
    ),
    (
        "Harbour festival draws crowds",
        "Boats, music and food filled the old harbour this weekend. Organisers counted record "
        "crowds for the festival.",
        1,
    ),
]


def add_articles(services, items, now=NOW) -> list[int]:
    """Store feed articles through the single writer: (title, text, days ago)."""
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"https://news.example/{abs(hash(t))}",
            title=t,
            text=x,
            text_source="page",
            fetched_at=now,
            canonical_url=f"https://news.example/{abs(hash(t))}",
            published_at=now - timedelta(days=days),
            lang="en",
        )
        for t, x, days in items
    ]
    writer = Writer(services)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
        writer.start(db)
    return [a.id for a in writer.store(drafts)]


def ids_by_title(services) -> dict[str, int]:
    with services.warehouse.connect(read_only=True) as db:
        return {t: int(i) for i, t in db.rows("SELECT id, title FROM articles")}


def run(services, query, mode="hybrid", **filters):
    prepared = prepare(query, [VectorSource("chunk_embeddings", services.embedder)], mode)
    with services.warehouse.connect(read_only=True) as db:
        return search(db, prepared, mode=mode, filters=SearchFilters(**filters))


def titles(outcome) -> list[str]:
    return [s.best.article.title for s in outcome.stories]


# -- the analyzer --------------------------------------------------------------------------------


def test_inflections_and_scripts_meet_in_one_term():
    assert analyze("sanctioned") == analyze("Sanctions") == analyze("sanctioning")
    assert analyze("Вагнера") == analyze("Вагнер")  # Russian inflection
    assert analyze("Société") == analyze("societe")  # accents
    assert analyze("the of and") == []  # function words only
    # A Chinese name inside a longer run of characters: its character pairs are all there.
    assert set(analyze("天仪空间")) <= set(analyze("长沙天仪空间科技研究院"))
    assert not set(analyze("天仪空间")) <= set(analyze("长沙航天科技研究院"))


def test_title_terms_weigh_more_than_body_terms():
    terms = index_terms("Spacety sanctioned", "Spacety sold images.")
    assert terms.counts[analyze("spacety")[0]] == 3 and terms.counts[analyze("images")[0]] == 1
    assert terms.length == sum(terms.counts.values())


def test_query_keeps_quoted_phrases_and_the_words_typed():
    q = parse_query('"no limits" friendship with Moscow "unclosed')
    assert q.phrases == ("no limits",)
    assert q.text == "no limits friendship with Moscow unclosed"
    assert q.surface[analyze("Moscow")[0]] == "Moscow"
    assert phrase_pattern("no limits").search("a “No-Limits” friendship")
    assert not phrase_pattern("no limits").search("nolimits, no  limitless")


def test_fusion_prefers_what_both_rankings_found_and_folds_by_story():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 1]], k=60)
    assert [i for i, _ in fused][:2] == [1, 3]
    assert reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[1.0, 3.0])[0][0] == 2
    folded = fold(fused, {1: 10, 3: 10, 2: 20, 4: 4})
    assert [s for s, _ in folded] == [10, 20, 4]
    assert [i for i, _ in folded[0][1]] == [1, 3]


def test_passage_is_the_sentence_with_the_query_words():
    text = (
        "Markets were calm. The ministry uncovered espionage cases in the space sector. "
        "Weather was mild."
    )
    assert best_passage(text, analyze("space espionage")).startswith("The ministry uncovered")
    long = "Intro sentence here. " + "Filler words go on and on. " * 40
    assert len(best_passage(long, analyze("nothing matches"))) <= 300


def test_since_reads_durations_and_dates():
    assert parse_since("30d", NOW) == NOW - timedelta(days=30)
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("last week", NOW)


# -- saved searches file -------------------------------------------------------------------------


def test_the_shipped_saved_searches_load():
    searches = load_searches(Path(__file__).resolve().parents[1] / "config" / "searches.toml")
    assert len(searches) >= 2 and all(s.query for s in searches)


@pytest.mark.parametrize(
    "body, problem",
    [
        ('[[searches]]\nname = "a"\nquery = "x"\ncolour = "red"\n', "unknown key 'colour'"),
        (
            '[[searches]]\nname = "a"\nquery = "x"\n[[searches]]\nname = "a"\nquery = "y"\n',
            "used twice",
        ),
        ('[[searches]]\nname = "a"\nquery = "x"\nmatch = "sometimes"\n', "match 'sometimes'"),
        ('[[searches]]\nname = "a"\nquery = "x"\nsince = "soon"\n', "since"),
        ('[[searches]]\nname = "a"\n', "`query` is required"),
    ],
)
def test_a_bad_saved_search_names_the_file_and_the_problem(tmp_path, body, problem):
    path = tmp_path / "searches.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_searches(path)
    assert str(path) in str(err.value) and problem in str(err.value)


# -- the index and the filters (fake embedder) ---------------------------------------------------


@pytest.fixture
def services(make_settings, fake_embedder, tmp_path):
    searches = tmp_path / "searches.toml"
    searches.write_text(
        '[[searches]]\nname = "imagery"\nquery = "satellite imagery"\nmatch = "terms"\n\n'
        '[[searches]]\nname = "orbit-meaning"\nquery = "weather satellite reached orbit"\n'
        'match = "meaning"\nmin_similarity = 0.4\n\n'
        '[[searches]]\nname = "radar-phrase"\nquery = \'"radar pictures" firm\'\n\n'
        '[[searches]]\nname = "recent-imagery"\nquery = "satellite"\nmatch = "terms"\n'
        'since = "7d"\ntopic = "sanctions"\n',
        encoding="utf-8",
    )
    settings = make_settings(f'[search]\nfile = "{searches}"\n')
    p = make_pipeline(settings, fake_embedder)
    add_articles(p, ARTICLES)
    return p


def test_the_writer_indexes_every_article_it_stores(services):
    with services.warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM articles") == db.scalar(
            "SELECT count(*) FROM search_docs"
        )
    out = run(services, "sanctioning imagery companies", mode="text")
    assert titles(out)[0] == "Treasury sanctions satellite imagery firm"
    assert "Harbour festival draws crowds" not in titles(out)


def test_a_phrase_must_appear_as_written(services):
    assert (
        titles(run(services, '"radar pictures"'))[0] == "Treasury sanctions satellite imagery firm"
    )
    # Same words, other order: no article holds that phrase.
    assert run(services, '"pictures radar"').stories == ()


def test_a_phrase_is_checked_by_word_positions_and_never_across_a_dropped_word():
    # "of the" keep their places: "trade of the deal" does not hold "trade deal".
    terms = index_terms("Trade deal signed", "Talks on the trade of the deal went on.")
    assert terms.positions["trade"] == (0, 7)  # the title's word, then the text's after a gap
    assert terms.positions["deal"] == (1, 10)
    [phrase] = parse_query('"trade deal" news').phrase_checks()
    assert phrase.terms == ((0, "trade"), (1, "deal"))
    [stopped] = parse_query('"the Hague"').phrase_checks()
    assert stopped.terms == ((0, "hagu"),)


def test_a_hybrid_phrase_query_reads_no_text(services, monkeypatch):
    # Reading texts by id costs DuckDB nearly as much for a few as for all (it copies every text
    # of the vector of 2,048 rows that holds one): phrases are checked in the term table's word
    # positions, for the text side's candidates and the meaning side's hits alike.
    reads: list[list[int]] = []
    read_texts = search_store.texts

    def counted(db, ids, hashes=None):
        reads.append(list(ids))
        return read_texts(db, ids, hashes)

    monkeypatch.setattr(search_store, "texts", counted)
    source = VectorSource("chunk_embeddings", services.embedder)
    with services.warehouse.connect(read_only=True) as db:
        out = search(db, prepare('"radar pictures" firm', [source]))
        assert titles(out)[0] == "Treasury sanctions satellite imagery firm"
        assert out.meaning_hits and not reads
        assert search(db, prepare('"denied radar"', [source])).stories == ()
        assert not reads  # both words are there, not in that order
        # A function word's place is kept but no index holds the word: the texts the positions
        # leave are read.
        apart = search(db, prepare('"pictures of the front"', [source]))
        assert titles(apart) == ["Treasury sanctions satellite imagery firm"] and len(reads) == 1
        assert search(db, prepare('"pictures at the front"', [source])).stories == ()


def test_a_phrase_shows_only_reports_holding_it_as_written(services, tmp_path):
    # The index matches word stems in place; what is shown holds the words as typed.
    add_articles(
        services,
        [("Navy shares coastal radar picture", "The navy shared a radar picture of the coast.", 1)],
    )
    assert titles(run(services, '"radar pictures"')) == [
        "Treasury sanctions satellite imagery firm"
    ]
    assert titles(run(services, '"radar picture"')) == ["Navy shares coastal radar picture"]
    # A saved search used as an alert condition holds phrases as written too.
    searches = tmp_path / "phrase.toml"
    searches.write_text(
        '[[searches]]\nname = "radar"\nquery = \'"radar pictures"\'\nmatch = "terms"\n',
        encoding="utf-8",
    )
    settings = with_overrides(services.settings, search={"file": searches})
    saved = SavedSearches(settings.search, services.embedder, services.warehouse)
    ids = ids_by_title(services)
    assert saved.match_saved("radar", list(ids.values())) == {
        ids["Treasury sanctions satellite imagery firm"]
    }


def test_articles_indexed_before_positions_match_phrases_in_their_text_until_indexed_again(
    services,
):
    aid = ids_by_title(services)["Treasury sanctions satellite imagery firm"]
    with services.warehouse.transaction() as db:
        db.execute("UPDATE search_terms SET pos = NULL WHERE article_id = ?", [aid])
        db.execute("UPDATE search_docs SET analyzer = 'older' WHERE article_id = ?", [aid])
    assert (
        titles(run(services, '"radar pictures"'))[0] == "Treasury sanctions satellite imagery firm"
    )
    assert run(services, '"pictures radar"').stories == ()
    seen: list[tuple[int, int]] = []  # what `init` shows while it indexes again
    assert index_for_search(services.warehouse, progress=lambda *p: seen.append(p)) == 1
    assert seen == [(1, 1)]
    with services.warehouse.connect(read_only=True) as db:
        assert not db.scalar("SELECT count(*) FROM search_terms WHERE pos IS NULL")
    assert (
        titles(run(services, '"radar pictures"'))[0] == "Treasury sanctions satellite imagery firm"
    )


def test_filters_by_date_and_topic(services):
    every = titles(run(services, "satellite", mode="text"))
    recent = titles(run(services, "satellite", mode="text", since=NOW - timedelta(days=7)))
    assert "Weather satellite reaches orbit" in every
    assert "Weather satellite reaches orbit" not in recent  # published 40 days ago
    assert "Treasury sanctions satellite imagery firm" in recent
    with services.warehouse.connect(read_only=True) as db:
        tagged = {r[0] for r in db.rows("SELECT topic FROM article_topics")}
    topic = sorted(tagged)[0]
    for story in run(services, "satellite", topic=topic).stories:
        with services.warehouse.connect(read_only=True) as db:
            assert (
                db.scalar(
                    "SELECT count(*) FROM article_topics WHERE article_id = ? AND topic = ?",
                    [story.best.article.id, topic],
                )
                == 1
            )


def test_entity_filter_uses_the_watchlist_and_needs_it(services):
    ids = ids_by_title(services)
    with services.warehouse.transaction() as db:
        db.execute("DELETE FROM article_entities")
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, "
            "evidence) VALUES (?, 'Spacety', 1, 0, '')",
            [ids["Weather satellite reaches orbit"]],
        )
    assert titles(run(services, "satellite", entity="spacety")) == [
        "Weather satellite reaches orbit"
    ]
    assert run(services, "satellite", entity="Wagner Group").stories == ()
    # A warehouse without the watchlist's table (one migrated before it existed).
    with services.warehouse.transaction() as db:
        for view in db.rows(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "AND sql ILIKE '%article_entities%'"
        ):
            db.execute(f"DROP VIEW {view[0]}")
        db.execute("DROP TABLE article_entities")
    with pytest.raises(WatchlistMissingError, match="the watchlist is not set up"):
        run(services, "satellite", entity="Spacety")
    assert titles(run(services, "satellite"))  # without --entity the search still runs


def test_stories_fold_their_reports(services):
    first = ids_by_title(services)["Treasury sanctions satellite imagery firm"]
    add_articles(
        services,
        [
            (
                "Imagery firm hit by sanctions",
                "Sanctions were imposed on a satellite imagery firm over radar images "
                "of the front line, officials said.",
                1,
            )
        ],
    )
    ids = ids_by_title(services)
    with services.warehouse.transaction() as db:
        db.execute(
            "UPDATE articles SET story_id = ? WHERE id IN (?, ?)",
            [first, first, ids["Imagery firm hit by sanctions"]],
        )
    out = run(services, "satellite imagery sanctions")
    top = out.stories[0]
    assert top.story_id == first and top.reports == 2 and top.matched == 2
    assert len({s.story_id for s in out.stories}) == len(out.stories)


def test_articles_stored_before_the_index_are_indexed_and_compaction_keeps_results(services):
    before = titles(run(services, "satellite orbit", mode="text"))
    with services.warehouse.transaction() as db:
        db.execute("DELETE FROM search_terms")
        db.execute("DELETE FROM search_docs")
    assert run(services, "satellite orbit", mode="text").stories == ()
    assert index_for_search(services.warehouse) == len(ids_by_title(services))
    assert compact_search_index(services.warehouse) > 0
    assert titles(run(services, "satellite orbit", mode="text")) == before
    with services.warehouse.connect(read_only=True) as db:
        assert search_store.uncompacted(db) == 0
        assert search_store.count_unindexed(db, index_terms("", "").analyzer) == 0


def test_deleting_an_article_removes_it_from_the_index(services):
    aid = ids_by_title(services)["Harbour festival draws crowds"]
    with services.warehouse.transaction() as db:
        article_store.delete_articles(db, [aid])
    with services.warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM search_terms WHERE article_id = ?", [aid]) == 0
    assert run(services, "harbour festival", mode="text").stories == ()


def test_saved_searches_match_new_articles_for_alerts(services):
    ids = ids_by_title(services)
    saved = SavedSearches(services.settings.search, services.embedder, services.warehouse)
    everything = [ids[t] for t, _, _ in ARTICLES]  # the newly stored ones
    assert saved.match_saved("imagery", everything) == {
        ids["Treasury sanctions satellite imagery firm"]
    }
    assert saved.match_saved("radar-phrase", everything) == {
        ids["Treasury sanctions satellite imagery firm"]
    }
    assert saved.match_saved("orbit-meaning", everything) == {
        ids["Weather satellite reaches orbit"]
    }
    # Filters hold too: the weather story is 40 days old; nothing else is on topic.
    recent = saved.match_saved("recent-imagery", everything)
    assert ids["Weather satellite reaches orbit"] not in recent
    assert saved.match_saved("imagery", []) == set()
    with pytest.raises(SearchError, match="no saved search named 'nope'"):
        saved.match_saved("nope", everything)


# -- the real model ------------------------------------------------------------------------------


@pytest.mark.model
def test_search_finds_a_seed_by_a_paraphrase_and_by_an_exact_phrase(make_settings, embedder):
    services = make_pipeline(make_settings(), embedder)
    with services.warehouse.connect(read_only=True) as db:
        seeds = {
            url[5:8]: aid
            for aid, url in db.rows("SELECT id, url FROM articles WHERE source = 'seed'")
        }
    # Shares no word with seed 002 (US sanctions on Spacety for imagery given to Wagner).
    paraphrase = (
        "Washington punishes a startup for handing battlefield pictures to Moscow's hired guns"
    )
    with services.warehouse.connect(read_only=True) as db:
        present = search_store.terms_present(db, [seeds["002"]], parse_query(paraphrase).terms)
    assert not present
    hybrid = run(services, paraphrase)
    assert any(seeds["002"] in s.article_ids for s in hybrid.stories[:2])
    assert all(seeds["002"] not in s.article_ids for s in run(services, paraphrase, "text").stories)
    # An exact phrase: only the seed that says "no limits" friendship, first.
    out = run(services, '"no limits" friendship')
    assert [s.best.article.id for s in out.stories] == [seeds["001"]]
    assert "no limits" in out.stories[0].best.passage.lower()
    assert run(services, '"limits no" friendship').stories == ()


@pytest.mark.model
def test_search_command_is_read_only_and_explains_its_results(make_settings, embedder, monkeypatch):
    settings = make_settings()
    services = make_pipeline(settings, embedder)
    monkeypatch.setattr("pipeline.embed.factory.make_embedder", lambda _settings: embedder)
    path = Path(settings.warehouse.path)
    with services.warehouse.connect() as db:
        db.execute("CHECKPOINT")
    before = (path.stat().st_mtime_ns, path.stat().st_size)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "--config",
            settings.source,
            "search",
            "Spacety Wagner",
            "--format",
            "json",
            "--limit",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert 1 <= len(rows) <= 3 and rows[0]["url"].startswith("seed:")
    assert {"Spacety", "Wagner"} <= set(rows[0]["matched_terms"]) and rows[0]["passage"]
    assert rows[0]["reports"] >= rows[0]["matched"] >= 1
    assert (path.stat().st_mtime_ns, path.stat().st_size) == before
    assert not path.with_name(path.name + ".wal").exists()

    table = runner.invoke(cli, ["--config", settings.source, "search", "espionage in space"])
    assert table.exit_code == 0 and "espionage" in table.stdout.lower()
    # Entities by name or alias, as the watchlist names them; an unknown one is one line.
    (Path(settings.source).parent / "watchlist.toml").write_text(
        '[[entities]]\nname = "Spacety"\nkind = "organisation"\n'
        'aliases = ["Changsha Tianyi Space Science and Technology"]\n',
        encoding="utf-8",
    )
    with services.warehouse.transaction() as db:
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, "
            "evidence) SELECT id, 'Spacety', 1, 0, '' FROM articles "
            "WHERE url = ?",
            [rows[0]["url"]],
        )
    by_alias = runner.invoke(
        cli,
        [
            "--config",
            settings.source,
            "search",
            "satellite imagery",
            "--entity",
            "changsha tianyi space science and technology",
            "--format",
            "json",
        ],
    )
    assert by_alias.exit_code == 0, by_alias.output
    assert [r["url"] for r in json.loads(by_alias.stdout)] == [rows[0]["url"]]
    bad = runner.invoke(cli, ["--config", settings.source, "search", "x", "--entity", "Nobody"])
    assert bad.exit_code != 0 and "no watchlist entity named 'Nobody'" in bad.output
    assert "Traceback" not in bad.output
    topic = runner.invoke(cli, ["--config", settings.source, "search", "x", "--topic", "nope"])
    assert topic.exit_code != 0 and "unknown topic 'nope'" in topic.output
    both = runner.invoke(cli, ["--config", settings.source, "search"])
    assert both.exit_code == 2 and "QUERY or --saved" in both.output


def test_a_query_without_words_is_refused_and_meaning_hits_need_the_floor(services):
    from pipeline.search.request import resolve_search, search_in

    for query in ("", "%", "  ?! ", '""', "。、"):
        with pytest.raises(SearchError) as err:
            resolve_search(services.settings, query)
        assert "no searchable words" in str(err.value) and err.value.exit_code == 2, query
        result = CliRunner().invoke(cli, ["--config", services.settings.source, "search", query])
        assert result.exit_code == 2 and "no searchable words" in result.stderr, result.output
        assert result.stdout == "" and "Traceback" not in result.output
    # A real query, by meaning: only hits at or above the floor are shown, in meaning mode
    # as in hybrid (where a hit its words found stays whatever its cosine).
    floor = services.settings.search.meaning_floor
    assert floor > 0
    unfloored = with_overrides(services.settings, search={"meaning_floor": 0.0})
    for mode in ("meaning", "hybrid"):
        spec = resolve_search(services.settings, "harbour festival crowds", mode=mode)
        prepared = prepare(spec.query, [VectorSource("chunk_embeddings", services.embedder)], mode)
        with services.warehouse.connect(read_only=True) as db:
            report = search_in(db, services.settings, spec, prepared)
            everything = search_in(db, unfloored, spec, prepared)
        low = [
            r
            for r in everything.records
            if not r["matched_terms"] and r["similarity"] is not None and r["similarity"] < floor
        ]
        assert low, "the query finds nothing below the floor: the test would prove nothing"
        assert report.records[0]["title"] == "Harbour festival draws crowds", mode
        assert {r["article_id"] for r in low}.isdisjoint(r["article_id"] for r in report.records)
        assert all(r["similarity"] >= floor or r["matched_terms"] for r in report.records), (
            report.records
        )
