"""The reading room's routes: every page and its JSON twin, bad ids and parameters, hostile
content, and the security rules (Host header, token and session, CSRF, headers, read-only)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.web.server import build
from tests.webroom import HOSTILE_TITLE, NOW, Room, build_room

BASE = "http://127.0.0.1:8470"
TOKEN = "a-long-enough-reading-room-token"


@pytest.fixture
def room(make_settings, tmp_path, fake_embedder) -> Room:
    return build_room(make_settings, tmp_path, fake_embedder)


def client(room: Room, *, host: str = "127.0.0.1", env: dict | None = None, **kw) -> TestClient:
    app = build(
        room.settings,
        room.warehouse,
        host,
        8470,
        encoder=lambda: room.services.embedder,
        clock=lambda: NOW,
        env=env or {},
    )
    return TestClient(app, base_url=kw.pop("base_url", BASE), follow_redirects=False, **kw)


def test_front_page_groups_stories_by_topic_new_and_growing_first(room):
    c = client(room)
    page = c.get("/")
    assert page.status_code == 200
    html = page.text
    # The sanctions story leads its topic's section; its German report counts as a language.
    assert "Sanctions" in html or "sanctions" in html
    assert html.index("US sanctions Spacety over Wagner imagery") < html.index("Harbour festival")
    data = c.get("/.json").json()
    assert data == c.get("/", headers={"Accept": "application/json"}).json()
    groups = {g["topic"]: g for g in data["groups"]}
    story = groups["sanctions"]["stories"][0]
    assert story["story_id"] == room.story_of("sanctions")
    assert story["langs"] == ["de", "en"]
    assert story["reports"] == 3 and story["originals"] == 2
    assert story["entities"][0] == "Spacety"
    # Filters narrow the list; a period that holds nothing says so.
    only_de = c.get("/.json?lang=de").json()
    assert [s["story_id"] for g in only_de["groups"] for s in g["stories"]] == [story["story_id"]]
    assert c.get("/.json?since=2h").json()["stories"] < data["stories"]
    assert "No stories in this period" in c.get("/?entity=Wagner+Group&since=1h").text


def test_story_page_shows_reports_across_languages_with_copies_folded(room):
    c = client(room)
    sid = room.story_of("sanctions")
    page = c.get(f"/stories/{sid}")
    assert page.status_code == 200
    html = page.text
    assert "Sanktionen gegen Spacety" in html and "US sanctions Spacety" in html
    assert '<details class="copies"><summary>1 copy</summary>' in html
    assert "<svg" in html and "<script" not in html.split("</head>")[1]
    data = c.get(f"/stories/{sid}.json").json()
    assert data["languages"] == ["de", "en"]
    [lead, german] = data["items"]
    assert [c_["title"] for c_ in lead["copies"]] == ["Spacety sanctioned (syndicated)"]
    assert german["lang"] == "de"
    assert data["topics"][0]["topic"] == "sanctions" and data["topics"][0]["passage"]
    assert data["entities"]["Spacety"] >= 3
    assert data["merges"][0]["story_id"] == 999001
    assert sum(b["reports"] for b in data["timeline"]) == 3


def test_a_merged_story_id_redirects_to_the_story_it_is_part_of(room):
    c = client(room)
    sid = room.story_of("sanctions")
    moved = c.get("/stories/999001")
    assert moved.status_code == 301 and moved.headers["location"] == f"/stories/{sid}"
    assert c.get("/stories/999001.json").headers["location"] == f"/stories/{sid}.json"


def test_article_page_shows_text_tags_mentions_and_its_story(room):
    c = client(room)
    page = c.get(f"/articles/{room.ids['sanctions']}")
    html = page.text
    assert page.status_code == 200
    assert "<mark>Spacety</mark>" in html and "<mark>PMC Wagner</mark>" in html
    assert "meaning 0.71" in html
    assert 'href="https://news.example/spacety" rel="noopener noreferrer"' in html
    data = c.get(f"/articles/{room.ids['copy']}.json").json()
    assert data["duplicate_of"]["id"] == room.ids["sanctions"]
    assert data["story_id"] == room.story_of("sanctions")
    original = c.get(f"/articles/{room.ids['sanctions']}.json").json()
    assert [x["id"] for x in original["copies"]] == [room.ids["copy"]]
    assert {m["entity"] for m in original["mentions"]} == {"Spacety", "Wagner Group"}


def test_entities_pages(room):
    c = client(room)
    listing = c.get("/entities.json").json()
    names = [e["name"] for e in listing["entities"]]
    assert names == ["Spacety", "Wagner Group"]
    assert listing["weeks"][-1] == "2026-W47"
    spacety = c.get("/entities/Spacety.json").json()
    assert spacety["entity"]["articles"] >= 3
    assert spacety["stories"][0]["story_id"] in {
        room.story_of("sanctions"),
        room.story_of("hostile"),
    }
    assert c.get("/entities/Wagner%20Group").status_code == 200
    assert c.get("/entities/Nobody").status_code == 404


def test_feeds_alerts_and_metrics_pages(room):
    c = client(room)
    assert c.get("/feeds").status_code == 200
    assert "runs" in c.get("/feeds.json").json()
    assert c.get("/alerts.json").json()["alerts"] == []
    metrics = c.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'newswatch_articles{kind="original",source="feed"}' in text
    assert "newswatch_warehouse_up 1.0" in text
    assert "newswatch_page_duration_seconds_bucket" in text


def test_bad_ids_and_parameters_get_clear_pages(room):
    c = client(room)
    for path, status in [
        ("/stories/abc", 400),
        ("/stories/987654321", 404),
        ("/articles/1x", 400),
        ("/articles/987654321", 404),
        ("/?since=yesterday", 400),
        ("/?feed=-3", 400),
        ("/?topic=" + "x" * 3000, 400),
        ("/no/such/page", 404),
    ]:
        r = c.get(path)
        assert r.status_code == status, path
        assert "Traceback" not in r.text and "<h1>" in r.text
        assert c.get(path, headers={"Accept": "application/json"}).json()["status"] == status


def test_hostile_content_is_text_and_only_web_links_become_links(room):
    c = client(room)
    html = c.get("/?all=1").text
    assert HOSTILE_TITLE not in html
    assert "&lt;img src=x onerror=window.__x=1&gt;" in html
    assert "<b>Bad</b>" not in html
    article = c.get(f"/articles/{room.ids['javascript']}").text
    assert "javascript:" not in article.replace("Link that is not a web link", "")
    assert not re.search(r'href="(?!/|https?://)', html + article)


def test_security_headers_on_every_response(room):
    c = client(room)
    for path in ("/", "/stories/abc", "/static/app.js", "/metrics"):
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"


def test_a_foreign_host_header_is_refused(room):
    c = client(room)
    assert c.get("/", headers={"Host": "attacker.example"}).status_code == 400
    assert c.get("/", headers={"Host": "attacker.example:8470"}).status_code == 400
    assert c.get("/", headers={"Host": "localhost:8470"}).status_code == 200


def test_another_address_needs_a_token_and_a_login(room):
    with pytest.raises(ConfigError, match="token"):
        client(room, host="0.0.0.0")
    c = client(
        room, host="0.0.0.0", env={"NEWSWATCH_WEB_TOKEN": TOKEN}, base_url="http://0.0.0.0:8470"
    )
    first = c.get("/stories/1")
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    assert c.get("/.json").status_code == 401
    form = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
    assert c.post("/login", data={"token": TOKEN, "csrf": "forged"}).status_code == 403
    assert c.post("/login", data={"token": "wrong-token-wrong", "csrf": csrf}).status_code == 403
    ok = c.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = next(v for k, v in ok.headers.multi_items() if k == "set-cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/").status_code == 200
    assert c.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303


def test_get_changes_nothing_in_the_warehouse(room):
    c = client(room)
    path = room.warehouse.path
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for url in (
        "/",
        "/.json",
        f"/stories/{room.story_of('sanctions')}",
        f"/articles/{room.ids['sanctions']}",
        "/entities",
        "/entities/Spacety",
        "/feeds",
        "/alerts",
        "/metrics",
        "/sql?q=select+1",
        "/updates.json?after=1",
    ):
        assert c.get(url).status_code == 200, url
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert c.post("/").status_code == 405


def test_sql_page_is_read_only_and_downloads(room):
    c = client(room)
    page = c.get("/sql", params={"q": "select id, title from articles order by id"})
    assert page.status_code == 200 and "US sanctions Spacety" in page.text
    data = c.get("/sql.json", params={"q": "select count(*) as n from articles"}).json()
    assert data["columns"] == ["n"] and data["rows"] == [[6]]
    refused = c.get("/sql", params={"q": "delete from articles"})
    assert refused.status_code == 400 and "DELETE" in refused.text
    outside = c.get("/sql", params={"q": "select * from read_text('/etc/passwd')"})
    assert outside.status_code == 400
    csv = c.get("/sql/result.csv", params={"q": "select 1 as a, 'x' as b"})
    assert csv.status_code == 200
    assert [r.replace('"', "") for r in csv.text.splitlines()] == ["a,b", "1,x"]
    assert "attachment" in csv.headers["content-disposition"]
    parquet = c.get("/sql/result.parquet", params={"q": "select 1 as a"})
    assert parquet.content[:4] == b"PAR1"
    assert c.get("/sql/result.exe", params={"q": "select 1"}).status_code == 404


def test_a_busy_warehouse_gives_503_with_retry_after(room, make_settings):
    path = room.warehouse.path
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time, duckdb
            con = duckdb.connect({str(path)!r})
            print("held", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        room.settings = room.settings.__class__(
            **{
                **room.settings.__dict__,
                "web": room.settings.web.__class__(
                    **{**room.settings.web.__dict__, "busy_wait_s": 0.3}
                ),
            }
        )
        r = client(room).get("/")
        assert r.status_code == 503 and r.headers["retry-after"].isdigit()
        assert "busy" in r.text
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def _writer_of_another_process(path, article_id: int) -> subprocess.Popen:
    """Another process that retitles an article in a write it holds open for 20 s."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pipeline.store.db import Warehouse
            with Warehouse({str(path)!r}).transaction() as db:
                db.execute("UPDATE articles SET title = 'Retitled' WHERE id = {article_id}")
                print("held", flush=True)
                time.sleep(20)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_while_another_process_writes_a_page_read_moments_ago_is_answered_at_once(room):
    from pipeline.config.settings import with_overrides

    room.settings = with_overrides(room.settings, web={"busy_wait_s": 0.5})
    c = client(room)
    sanctions, copy, festival = room.ids["sanctions"], room.ids["copy"], room.ids["festival"]
    assert c.get(f"/articles/{copy}").status_code == 200
    with room.warehouse.transaction():  # a write of this process (a mark made on a page)
        pass
    read = c.get(f"/articles/{sanctions}")
    assert read.status_code == 200 and "X-Newswatch-As-Of" not in read.headers
    holder = _writer_of_another_process(room.warehouse.path, sanctions)
    try:
        assert holder.stdout.readline().strip() == "held"
        again = c.get(f"/articles/{sanctions}")
        # Answered from the reading of moments ago (what was committed before the write), and
        # it says so, instead of waiting for the write.
        assert again.status_code == 200
        assert again.headers["X-Newswatch-As-Of"] == NOW.isoformat()
        assert "newswatch is storing new articles now" in again.text
        assert "Retitled" not in again.text
        twin = c.get(f"/articles/{sanctions}.json")
        assert twin.status_code == 200 and twin.json()["id"] == sanctions
        # A page nobody read lately waits for the write, bounded; so does one read before this
        # process's own last write (it may not show a mark just made).
        assert c.get(f"/articles/{festival}").status_code == 503
        assert c.get(f"/articles/{copy}").status_code == 503
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    after = c.get(f"/articles/{sanctions}")
    assert after.status_code == 200 and "X-Newswatch-As-Of" not in after.headers


def test_updates_say_how_many_reports_are_new(room):
    from tests.webroom import more

    c = client(room)
    latest = c.get("/.json").json()["latest_id"]
    assert c.get(f"/updates.json?after={latest}").json() == {"latest_id": latest, "new_articles": 0}
    more(room, "Another Spacety report", "Spacety " * 30, "https://more.example/1")
    assert c.get(f"/updates.json?after={latest}").json()["new_articles"] == 1


def test_serve_refuses_another_address_without_a_token(make_settings):
    settings = make_settings()
    result = CliRunner().invoke(
        cli, ["--config", str(settings.source), "serve", "--host", "0.0.0.0"], env={}
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "token" in result.output


def test_digest_and_alerts_link_to_the_story_page_when_base_url_is_set(make_settings):
    from pipeline.alerts.deliver import message_of
    from pipeline.alerts.message import build_email, json_payload, text_body
    from pipeline.digest.model import build_digest, week_of
    from pipeline.digest.render import render

    def rows(url: str) -> list[dict]:
        when = NOW.replace(year=2026, month=11, day=10)
        return [
            {
                "id": 10,
                "title": "Main report",
                "url": url,
                "site_name": "Wire",
                "feed_title": None,
                "published_at": when,
                "fetched_at": when,
                "description": None,
                "text": "Text.",
                "duplicate_of": None,
                "story_id": 10,
                "on_topic": True,
                "topics": {"sanctions": 0.9},
                "entities": {},
            }
        ]

    week = week_of("2026-W46", "UTC")
    labels = {"sanctions": "Sanctions"}
    linked = build_digest(
        week, rows("https://wire.example/a"), {}, (), labels, base_url="https://nw.example/room/"
    )
    story = linked.sections[0].stories[0]
    assert story.page == "https://nw.example/room/stories/10"
    out = render(linked, make_settings())
    assert 'href="https://nw.example/room/stories/10"' in out.html
    assert "https://nw.example/room/stories/10" in out.text
    # Unset: no link; and a stored javascript: URL is never a link in the digest.
    plain = build_digest(week, rows("javascript:alert(1)//x"), {}, (), labels)
    rendered = render(plain, make_settings())
    assert plain.sections[0].stories[0].page == ""
    assert "javascript:" not in rendered.html and "javascript:" not in rendered.text
    row = {
        "alert_id": 7,
        "rule": "spacety",
        "story_id": 10,
        "article_id": 11,
        "title": "Spacety",
        "url": "https://wire.example/a",
        "source_name": "Wire",
    }
    msg = message_of(row, ("Wire",), "https://nw.example")
    assert msg.story_page == "https://nw.example/stories/10"
    assert "https://nw.example/stories/10" in text_body(msg)
    assert json_payload(msg)["story_page"] == "https://nw.example/stories/10"
    email = build_email(
        msg,
        sender="a@b.example",
        recipients=["c@d.example"],
        subject_prefix="[nw]",
        message_id="<1@x>",
    )
    assert "https://nw.example/stories/10" in email.as_string()
    assert msg.mark_page == "https://nw.example/articles/11"
    assert "https://nw.example/articles/11" in text_body(msg)
    assert story.mark_page == "https://nw.example/room/articles/10"
    assert message_of(row, ("Wire",)).story_page == ""
