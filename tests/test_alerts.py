"""Alerts end to end on loopback (webhook receiver, aiosmtpd): one alert per rule and story,
story growth, retries, a crash between commit and delivery, the private-address guard and
secrets, saved-search plumbing; and the pure parts: conditions, the file's checks, messages."""

from __future__ import annotations

import email
import json
import logging
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from click.testing import CliRunner

from pipeline.alerts.conditions import ArticleFacts, Report, decide, evaluate, story_growth
from pipeline.alerts.config import Condition, Rule, load_alert_config
from pipeline.alerts.message import build_email, json_payload, slack_payload
from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.ingest import run_cycle
from pipeline.models import AlertMessage, EntityMatch
from pipeline.tag.watchlist import WatchEntity, Watchlist
from pipeline.testkit.server import Route, rss
from tests.conftest import REPO
from tests.helpers import article_page, child_env

WATCH = """
[[entities]]
name = "Spacety"
kind = "organisation"
tags = ["sanctioned"]

[[entities]]
name = "Terra Tech"
kind = "organisation"
tags = ["sanctioned"]
"""

HOOK_ENV = "NEWSWATCH_ALERT_TEST_HOOK"

#: The words of one event; each outlet writes them in its own order, so that reports share a
#: story (same words: same bag-of-words vector) without being copies (no shared 5-word runs).
EVENT = [
    "Spacety",
    "satellite",
    "imagery",
    "radar",
    "Wagner",
    "Ukraine",
    "Treasury",
    "sanctions",
    "designated",
    "Changsha",
    "company",
    "images",
    "supplied",
    "Russia",
    "mercenary",
    "operations",
    "department",
    "officials",
    "statement",
    "week",
    "network",
    "support",
    "firm",
    "combat",
]


def report_text(seed: int) -> list[str]:
    rng = random.Random(seed)
    paras = []
    for _ in range(6):
        words = EVENT[:]
        rng.shuffle(words)
        paras.append(" ".join(words).capitalize() + ".")
    return paras


# -- the pure parts ---------------------------------------------------------------------------


def facts(aid=1, story=1, entities=(), topics=None, relevance=0.0, reports=()):
    return ArticleFacts(
        aid,
        story,
        {e: EntityMatch(e, 2, 0, f"…{e}…") for e in entities},
        topics or {},
        relevance,
        tuple(reports),
    )


def test_conditions_are_three_valued_and_explain_themselves():
    spacety = Condition("entity", "Spacety")
    search = Condition("search", "s")
    topic = Condition("topic", "sanctions", min_score=0.6)
    f = facts(entities=["Spacety"], topics={"sanctions": 0.7})
    assert evaluate(spacety, f, {}).value is True
    assert "Spacety named 2 times" in evaluate(spacety, f, {}).reasons[0]
    assert evaluate(Condition("topic", "sanctions", min_score=0.8), f, {}).value is False
    assert evaluate(Condition("all", parts=(spacety, search)), f, {}).value is None
    assert (
        evaluate(Condition("all", parts=(Condition("entity", "Terra Tech"), search)), f, {}).value
        is False
    )
    assert evaluate(Condition("any", parts=(topic, search)), f, {}).value is True
    assert evaluate(Condition("all", parts=(spacety, search)), f, {}, {"s": True}).value is True
    assert (
        evaluate(Condition("entity_tag", "sanctioned"), f, {"Spacety": ("sanctioned",)}).value
        is True
    )
    assert evaluate(Condition("relevance", 0.5), f, {}).value is False


def test_story_growth_needs_n_sources_inside_one_window():
    t0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
    story = [
        Report(1, "A", t0),
        Report(2, "A", t0 + timedelta(hours=1)),
        Report(3, "B", t0 + timedelta(hours=2)),
        Report(4, "C", t0 + timedelta(hours=9)),
    ]
    assert story_growth(story, 3, 3, 6) is None  # A, B within 6 h; C is too late
    assert story_growth(story, 4, 3, 6) is None  # C's window holds C alone
    assert story_growth(story, 4, 3, 8) == ("A", "B", "C")  # from A's second report on
    assert story_growth(story, 2, 2, 6) == ("A", "B")


def test_decide_alerts_once_per_rule_and_story():
    rule = Rule("r", Condition("entity", "Spacety"), ("log",))
    batch = [facts(1, 1, ["Spacety"]), facts(2, 1, ["Spacety"]), facts(3, 3, ["Spacety"])]
    fired = decide([rule], batch, {})
    assert [(d.facts.id, d.value) for d in fired] == [(1, True), (3, True)]
    assert decide([rule], batch, {}, already={("r", 1)})[0].facts.id == 3


def test_alerts_file_checks(tmp_path):
    watch = Watchlist((WatchEntity("Spacety", "organisation", ("Spacety",), ("sanctioned",)),))
    path = tmp_path / "alerts.toml"
    rule = '[[rules]]\nname = "r"\nchannels = ["log"]\n'
    cases = {
        rule + 'when = { entity = "Nobody" }\n': "not in the watchlist",
        rule + 'when = { entity_tag = "friendly" }\n': "no watchlist entity has the tag",
        rule + 'when = { topic = "weather" }\n': "not in the topics file",
        rule + 'when = { entity = "Spacety", topic = "sanctions" }\n': "exactly one of",
        rule + "when = { story_sources = 1 }\n": "from 2 to 1000",
        rule + 'when = { search = "unknown" }\n': "no saved search named",
        '[[rules]]\nname = "r"\nchannels = ["nowhere"]\n'
        'when = { entity = "Spacety" }\n': "no channel named",
        '[[channels]]\nname = "h"\ntype = "webhook"\n'
        'url = "https://hooks.example/T0KEN"\n': "url_env",
        '[[channels]]\nname = "h"\ntype = "webhook"\n'
        'url_env = "NEWSWATCH_HTTP_URL"\n': "NEWSWATCH_ALERT_",
        '[[channels]]\nname = "h"\ntype = "pigeon"\n': "type must be one of",
    }
    (tmp_path / "searches.toml").write_text('[[searches]]\nname = "known"\nquery = "x"\n')
    for text, problem in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=problem):
            load_alert_config(path, watch, topics={"sanctions"})
    path.write_text(rule + 'when = { all = [ { entity = "Spacety" }, { search = "known" } ] }\n')
    assert load_alert_config(path, watch, topics={"sanctions"}).waiting == {"r"}
    assert load_alert_config(path, watch, search_ready=True).active[0].name == "r"


def test_shipped_alerts_file_alerts_only_to_the_log():
    from pipeline.tag.watchlist import load_watchlist

    config = load_alert_config(
        REPO / "config" / "alerts.toml", load_watchlist(REPO / "config" / "watchlist.toml")
    )
    assert config.active and all(c == "log" for r in config.active for c in r.channels)


HOSTILE = "<!channel> Spacety <script>alert(1)</script> & <https://evil.example|click>"


def test_messages_never_let_feed_content_act():
    msg = AlertMessage(
        7,
        "spacety",
        3,
        3,
        HOSTILE,
        "javascript:alert(1)",
        "Wire <b>A</b>",
        None,
        reasons=("Spacety named once: “<img src=x onerror=alert(2)>”",),
    )
    text = slack_payload(msg)["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "<https://evil" not in text
    assert json_payload(msg)["article"]["url"] == ""  # javascript: links are dropped
    mail = build_email(
        msg,
        sender="n@example.org",
        recipients=["a@example.org"],
        subject_prefix="[newswatch]",
        message_id="<x@example.org>",
    )
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html
    assert "\n" not in mail["Subject"]


# -- end to end ---------------------------------------------------------------------------


@pytest.fixture
def setup(make_services, tmp_path, loopback, monkeypatch):
    """A pipeline whose alerts.toml is given, with a webhook receiver at /hook (on loopback:
    its channel is allowed private addresses)."""

    def make(rules: str, *, extra: str = "", channels: str | None = None, path: str = "/hook"):
        (tmp_path / "watchlist.toml").write_text(WATCH, encoding="utf-8")
        alerts = tmp_path / "alerts.toml"
        alerts.write_text(
            (
                channels
                if channels is not None
                else f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl_env = "{HOOK_ENV}"\n'
                "allow_private = true\n"
            )
            + rules,
            encoding="utf-8",
        )
        monkeypatch.setenv(HOOK_ENV, loopback.url(path))
        loopback.route(path, '{"ok": true}', content_type="application/json")
        return make_services(
            f'[watchlist]\nfile = "{tmp_path / "watchlist.toml"}"\n'
            f'[alerts]\nfile = "{alerts}"\n'
            + ("" if "retry_delay_s" in extra else "retry_delay_s = 0.05\n")
            + extra
        )

    return make


def outlet(loopback, name: str, seed: int, *, mention: bool = True) -> str:
    """An outlet's feed with one report of the event; returns the feed URL."""
    paras = report_text(seed)
    if not mention:
        paras = [p.replace("Spacety", "The firm").replace("spacety", "the firm") for p in paras]
    slug = name.lower().replace(" ", "-")
    title = f"{name} reports imagery sanctions"
    page = article_page(title, paras).replace(
        "<head>", f"<head><meta property='og:site_name' content='{name}'>"
    )
    loopback.route(f"/{slug}/story.html", page)
    loopback.route(
        f"/{slug}/feed.xml",
        rss(
            [
                {
                    "title": title,
                    "guid": f"{slug}-1",
                    "link": loopback.url(f"/{slug}/story.html"),
                    "description": f"{name} on Spacety.",
                }
            ],
            title=name,
        ),
        content_type="application/rss+xml",
    )
    return loopback.url(f"/{slug}/feed.xml")


def rows(services, sql, params=None):
    with services.warehouse.connect(read_only=True) as db:
        return db.rows(sql, params)


def test_a_watched_entity_alerts_once_per_story_by_webhook_and_mail(setup, loopback, inbox):
    services = setup(
        '[[channels]]\nname = "mail"\ntype = "email"\n\n'
        '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\n'
        'channels = ["hook", "mail"]\n',
        extra=f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\n'
        f'retries = 1\n[digest]\nrecipients = ["desk@example.org"]\n'
        f'sender = "newswatch@example.org"\n',
    )
    summary = run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    assert summary.articles_new == 1 and summary.alerts_raised == 1
    [(aid, story)] = rows(services, "SELECT id, story_id FROM articles WHERE source = 'feed'")
    [(headers, body)] = loopback.posted("/hook")
    payload = json.loads(body)
    assert payload["rule"] == "spacety" and payload["story_id"] == story
    assert payload["article"]["id"] == aid and payload["article"]["source"] == "Wire A"
    assert any("Spacety named" in m for m in payload["matched"])
    assert headers["idempotency-key"] == f"newswatch-alert-{payload['alert_id']}-hook"
    [raw] = inbox.messages
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert "spacety: Wire A reports imagery sanctions" in mail["Subject"]
    assert "Wire A reports imagery sanctions" in mail.get_body(("plain",)).get_content()
    assert rows(services, "SELECT status FROM alerts") == [("sent",)]

    # The same story from a second outlet: stored in the same story, no second alert.
    summary = run_cycle(services, feeds=[outlet(loopback, "Outlet B", 2)])
    assert summary.articles_new == 1 and summary.alerts_raised == 0
    stories = rows(services, "SELECT DISTINCT story_id FROM articles WHERE source = 'feed'")
    assert stories == [(story,)]
    assert len(loopback.posted("/hook")) == 1 and len(inbox.messages) == 1
    assert rows(services, "SELECT count(*) FROM alerts") == [(1,)]


def test_story_growth_fires_once_when_the_nth_source_arrives(setup, loopback):
    services = setup(
        '[[rules]]\nname = "breaking"\nchannels = ["hook"]\n'
        "when = { story_sources = 3, within_hours = 12 }\n"
    )
    for n, name in enumerate(["Wire A", "Outlet B", "Outlet C", "Outlet D"], 1):
        run_cycle(services, feeds=[outlet(loopback, name, n, mention=n % 2 == 0)])
        assert len(loopback.posted("/hook")) == (0 if n < 3 else 1), n
    payload = json.loads(loopback.posted("/hook")[0][1])
    assert payload["article"]["source"] == "Outlet C"
    assert payload["story_sources"] == ["Wire A", "Outlet B", "Outlet C"]
    assert "3 sources within 12 h" in payload["matched"][0]
    assert len(rows(services, "SELECT DISTINCT story_id FROM articles WHERE source = 'feed'")) == 1


def test_a_receiver_that_fails_gets_one_delivery_within_and_across_cycles(setup, loopback):
    services = setup(
        '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\nchannels = ["hook"]\n',
        extra="attempts_per_cycle = 2\nbackoff_base_s = 1\n",
    )
    calls = {"n": 0}

    def flaky(route, headers):
        calls["n"] += 1
        return Route(b"busy", status=503) if calls["n"] <= 3 else route

    loopback.routes["/hook"].handler = flaky
    run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    assert calls["n"] == 2  # two tries this cycle, then it waits
    [(status, attempts, error, next_at)] = rows(
        services, "SELECT status, attempts, last_error, next_attempt_at FROM alert_deliveries"
    )
    assert status == "pending" and attempts == 1 and "HTTP 503" in error and next_at
    time.sleep(max(0.0, (next_at - datetime.now(UTC)).total_seconds()) + 0.1)
    run_cycle(services)  # no feed due: the cycle still delivers what is due
    posts = loopback.posted("/hook")
    assert calls["n"] == 4 and len(posts) == 4
    assert len({h["idempotency-key"] for h, _ in posts}) == 1  # one delivery, four tries
    assert rows(services, "SELECT status, attempts FROM alerts") == [("sent", 2)]
    run_cycle(services)
    assert len(loopback.posted("/hook")) == 4


CRASH = textwrap.dedent("""
    import sys, time
    import pipeline.ingest.delivery as delivery
    from pipeline.config.settings import load_settings
    from pipeline.ingest import Services, run_cycle
    from pipeline.testkit.fakes import FakeEmbedder

    calls = []

    def stop_before_delivery(*args, **kwargs):
        # The cycle's first call (what earlier cycles left) returns; the second, after the
        # batch's commit, waits for the SIGKILL.
        calls.append(1)
        print("committed", flush=True)
        if len(calls) > 1:
            time.sleep(60)

    delivery.deliver_due = stop_before_delivery
    services = Services(load_settings(sys.argv[1], env={}), embedder=FakeEmbedder())
    run_cycle(services, feeds=[sys.argv[2]])
""")


def test_sigkill_between_commit_and_delivery_delivers_exactly_once_after_restart(setup, loopback):
    services = setup(
        '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\nchannels = ["hook"]\n'
    )
    feed = outlet(loopback, "Wire A", 1)
    with subprocess.Popen(
        [sys.executable, "-c", CRASH, services.settings.source, feed],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    ) as proc:
        try:
            # The first call delivers what earlier cycles left (nothing); the second follows
            # the batch's commit.
            assert proc.stdout.readline().strip() == "committed"
            assert proc.stdout.readline().strip() == "committed"
        finally:
            proc.send_signal(signal.SIGKILL)
    assert loopback.posted("/hook") == []
    assert rows(services, "SELECT status FROM alerts") == [("pending",)]
    services.reset()
    run_cycle(services)
    assert len(loopback.posted("/hook")) == 1
    run_cycle(services)
    assert len(loopback.posted("/hook")) == 1
    assert rows(services, "SELECT status FROM alerts") == [("sent",)]


def test_private_webhooks_need_permission_and_secrets_stay_out_of_logs(
    setup, loopback, caplog, monkeypatch
):
    rule = '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\nchannels = ["hook"]\n'
    services = setup(
        rule,
        path="/hook/S3CRET-T0KEN",
        channels=f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl_env = "{HOOK_ENV}"\n',
        extra="[http]\nallow_private_networks = false\nper_host_delay_s = 0.0\n",
    )
    with caplog.at_level(logging.DEBUG):
        run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    assert loopback.posted("/hook/S3CRET-T0KEN") == []
    [(status, error)] = rows(services, "SELECT status, last_error FROM alert_deliveries")
    assert status == "failed" and "private" in error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "S3CRET" not in logged and "S3CRET" not in error

    # The status report shows it, and a replay after allowing the LAN relay delivers it.
    out = CliRunner().invoke(cli, ["--config", services.settings.source, "status"])
    assert out.exit_code == 0, out.output
    assert "0 pending, 1 failed, 0 sent" in out.output and "private" in out.output
    alerts = services.settings.alerts.file
    alerts.write_text(
        alerts.read_text().replace('url_env = "', 'allow_private = true\nurl_env = "')
    )
    out = CliRunner().invoke(cli, ["--config", services.settings.source, "alerts", "replay", "1"])
    assert out.exit_code == 0, out.output
    assert len(loopback.posted("/hook/S3CRET-T0KEN")) == 1
    assert rows(services, "SELECT status FROM alerts") == [("sent",)]
    assert "S3CRET" not in out.output


def test_webhooks_honour_retry_after_and_need_their_own_channel_to_reach_loopback(setup, loopback):
    channel = f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl_env = "{HOOK_ENV}"\n'
    services = setup(
        '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\nchannels = ["hook"]\n',
        channels=channel + "allow_private = true\n",
        extra="retry_delay_s = 0.2\nbackoff_base_s = 1\n",
    )
    alerts_file = services.settings.alerts.file

    def replay():
        out = CliRunner().invoke(
            cli, ["--config", services.settings.source, "alerts", "replay", "1"]
        )
        assert out.exit_code == 1 and "not delivered" in out.output, out.output

    # A 429's Retry-After is waited for within the cycle's tries when it fits in them (a
    # second here; the tries wait 0.2 s otherwise).
    calls = {"n": 0}

    def busy_once(route, headers):
        calls["n"] += 1
        if calls["n"] == 1:
            return Route(b"slow down", status=429, headers={"Retry-After": "1"})
        return route

    loopback.routes["/hook"].handler = busy_once
    run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    first, second = loopback.arrived_at("/hook")
    assert second - first >= 1.0 and calls["n"] == 2
    assert rows(services, "SELECT status FROM alert_deliveries") == [("sent",)]

    # One longer than the tries can wait puts the next round off until it has passed.
    loopback.reset_log()
    loopback.routes["/hook"].handler = lambda route, headers: Route(
        b"down", status=503, headers={"Retry-After": "120"}
    )
    before = datetime.now(UTC)
    replay()
    assert len(loopback.posted("/hook")) == 1  # not tried again within this round
    [(status, next_at)] = rows(services, "SELECT status, next_attempt_at FROM alert_deliveries")
    assert status == "pending" and next_at >= before + timedelta(seconds=119), next_at

    # [http] allow_private_networks (on in the tests' settings) is for feeds' links: a webhook
    # on loopback needs allow_private on its own channel, and the message names the channel.
    assert services.settings.http.allow_private_networks
    alerts_file.write_text(
        alerts_file.read_text(encoding="utf-8").replace("allow_private = true\n", ""),
        encoding="utf-8",
    )
    loopback.reset_log()
    replay()
    assert loopback.posted("/hook") == []
    [(status, error)] = rows(services, "SELECT status, last_error FROM alert_deliveries")
    assert status == "failed" and "allow_private = true on channel hook" in error, error
    assert "feed" not in error


def test_alerts_list_and_test_commands(setup, loopback, monkeypatch):
    services = setup(
        '[[rules]]\nname = "spacety"\nwhen = { entity = "Spacety" }\n'
        'channels = ["hook"]\n\n[[channels]]\nname = "other"\ntype = "webhook"\n'
        'url_env = "NEWSWATCH_ALERT_UNSET"\n\n[[rules]]\nname = "unset"\n'
        'when = { entity_tag = "sanctioned" }\nchannels = ["other"]\n'
    )
    monkeypatch.delenv("NEWSWATCH_ALERT_UNSET", raising=False)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["--config", services.settings.source, "alerts", "list", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    states = {r["rule"]: r["state"] for r in json.loads(out.stdout)["rules"]}
    assert states == {"spacety": "active", "unset": "needs NEWSWATCH_ALERT_UNSET"}
    out = runner.invoke(cli, ["--config", services.settings.source, "alerts", "test", "spacety"])
    assert out.exit_code == 0, out.output
    [(_, body)] = loopback.posted("/hook")
    assert json.loads(body)["test"] is True
    out = runner.invoke(cli, ["--config", services.settings.source, "alerts", "test", "unset"])
    assert out.exit_code != 0 and "NEWSWATCH_ALERT_UNSET not set" in out.output
    out = runner.invoke(cli, ["--config", services.settings.source, "alerts", "test", "nope"])
    assert out.exit_code != 0 and "no rule 'nope'" in out.output


SEARCH_RULE = (
    '[[rules]]\nname = "watched-search"\nchannels = ["hook"]\n'
    'when = { all = [ { entity_tag = "sanctioned" }, { search = "imagery" } ] }\n'
)


def test_a_saved_search_condition_waits_for_search_then_asks_the_matcher(setup, loopback, caplog):
    with caplog.at_level(logging.WARNING):
        services = setup(SEARCH_RULE)
        services.search_matcher = None  # as if no search were wired in
        run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    waiting = [r for r in caplog.records if "wait and never fire" in r.getMessage()]
    assert len(waiting) == 1 and "watched-search" in waiting[0].getMessage()
    assert loopback.posted("/hook") == [] and rows(
        services, "SELECT count(*) FROM alert_checks"
    ) == [(0,)]

    asked = []

    def matcher(name, ids):
        asked.append((name, list(ids)))
        return set(ids) if name == "imagery" else set()

    services.search_matcher = matcher
    # Two more reports of the same story: the first is asked about and fires; the story then
    # has its alert, so the second is not even asked.
    run_cycle(services, feeds=[outlet(loopback, "Outlet B", 50)])
    run_cycle(services, feeds=[outlet(loopback, "Other C", 7)])
    assert len(asked) == 1 and asked[0][0] == "imagery"
    assert rows(services, "SELECT count(*) FROM alert_checks") == [(0,)]
    # One story, one alert, raised once the matcher said yes.
    assert rows(services, "SELECT rule FROM alerts") == [("watched-search",)]
    assert len(loopback.posted("/hook")) == 1


def test_saved_searches_are_the_default_search_condition(setup, loopback, tmp_path):
    """A rule on a saved search of config/searches.toml fires through pipeline.search with no
    wiring: the search whose words the report holds alerts once, the other never."""
    searches = tmp_path / "searches.toml"
    searches.write_text(
        '[[searches]]\nname = "imagery"\nquery = "imagery sanctions"\n'
        'match = "terms"\n\n'
        '[[searches]]\nname = "airships"\nquery = "zeppelin airship"\n'
        'match = "terms"\n',
        encoding="utf-8",
    )
    services = setup(
        SEARCH_RULE + '\n[[rules]]\nname = "airships"\nchannels = ["hook"]\n'
        'when = { search = "airships" }\n',
        extra=f'[search]\nfile = "{searches}"\n',
    )
    run_cycle(services, feeds=[outlet(loopback, "Wire A", 1)])
    run_cycle(services, feeds=[outlet(loopback, "Outlet B", 50)])
    assert rows(services, "SELECT rule FROM alerts") == [("watched-search",)]
    assert rows(services, "SELECT count(*) FROM alert_checks") == [(0,)]
    [(_, body)] = loopback.posted("/hook")
    assert "Wire A reports imagery sanctions" in body.decode()
