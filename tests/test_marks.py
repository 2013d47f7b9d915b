"""Marks from the terminal and the reading room: recorded once, undone by a later mark, in force
at once on the article or story they name, never recorded by a GET."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from pipeline.cli import cli
from pipeline.store import marks as mark_store
from pipeline.web.server import build
from tests.webroom import NOW, Room, build_room

BASE = "http://127.0.0.1:8470"


@pytest.fixture
def room(make_settings, tmp_path, fake_embedder) -> Room:
    return build_room(make_settings, tmp_path, fake_embedder)


def client(room: Room) -> TestClient:
    app = build(room.settings, room.warehouse, "127.0.0.1", 8470, clock=lambda: NOW, env={})
    return TestClient(app, base_url=BASE, follow_redirects=False)


def form_of(c: TestClient, path: str) -> dict[str, str]:
    """The CSRF token and a fresh request id, as a page renders them."""
    html = c.get(path).text
    return {
        "csrf": re.search(r'name="csrf" value="([^"]+)"', html)[1],
        "request_id": re.search(r'name="request_id" value="([^"]+)"', html)[1],
    }


def tags(room: Room, article_id: int) -> set[str]:
    with room.warehouse.connect(read_only=True) as db:
        return {
            t
            for (t,) in db.rows(
                "SELECT topic FROM article_topics WHERE article_id = ?", [article_id]
            )
        }


def marks_in_force(room: Room) -> dict:
    with room.warehouse.connect(read_only=True) as db:
        return mark_store.topic_marks(db)


def cli_run(room: Room, *args: str):
    return CliRunner().invoke(cli, ["--config", str(room.settings.source), *args])


def test_cli_marks_topics_and_a_later_mark_undoes_an_earlier(room):
    a = room.ids["festival"]
    assert "espionage" not in tags(room, a)
    done = cli_run(room, "mark", str(a), "--topic", "espionage", "--yes")
    assert done.exit_code == 0, done.output
    assert "espionage" in tags(room, a)
    assert marks_in_force(room) == {(a, "espionage"): True}
    assert cli_run(room, "mark", str(a), "--topic", "espionage", "--no").exit_code == 0
    assert "espionage" not in tags(room, a)
    assert marks_in_force(room) == {(a, "espionage"): False}
    assert cli_run(room, "mark", str(a), "--topic", "espionage", "--undo").exit_code == 0
    assert marks_in_force(room) == {}
    listed = cli_run(room, "marks", "list", "--format", "json")
    history = __import__("json").loads(listed.output)
    assert [m["value"] for m in history] == [None, False, True]
    assert [m["in_force"] for m in history] == [False, False, False]


def test_cli_refuses_what_it_cannot_mark_in_one_line(room):
    for args, words in [
        (["mark", "987654", "--topic", "sanctions", "--yes"], "no article"),
        (["mark", "1", "--topic", "weather", "--yes"], "unknown topic"),
        (["mark", "1", "--topic", "sanctions"], "--yes, --no or --undo"),
        (["mark", "--merge", "1"], "two story IDs"),
        (["mark", "1", "--off-theme", "--split"], "one of"),
    ]:
        r = cli_run(room, *args)
        assert r.exit_code == 2 and words in r.output, (args, r.output)


def test_off_theme_split_and_merge_take_effect_at_once(room):
    festival, german = room.ids["festival"], room.ids["sanctions_de"]
    story = room.story_of("sanctions")
    assert cli_run(room, "mark", str(festival), "--off-theme").exit_code == 0
    with room.warehouse.connect(read_only=True) as db:
        assert not db.scalar("SELECT on_topic FROM articles WHERE id = ?", [festival])
    assert cli_run(room, "mark", "--split", str(german)).exit_code == 0
    assert room.story_of("sanctions_de") == german != story
    assert room.story_of("sanctions") == story  # the rest keeps its story
    other = room.story_of("hostile")
    assert cli_run(room, "mark", "--merge", str(other), str(story)).exit_code == 0
    keep = min(story, other)
    assert room.story_of("hostile") == room.story_of("sanctions") == keep
    # The merged story's page redirects to the story it is now part of.
    gone = max(story, other)
    assert client(room).get(f"/stories/{gone}").headers["location"] == f"/stories/{keep}"


def test_web_marks_need_a_post_with_csrf_and_are_recorded_once(room):
    c = client(room)
    a = room.ids["festival"]
    page = f"/articles/{a}"
    form = form_of(c, page)
    data = {
        **form,
        "kind": "topic",
        "article_id": str(a),
        "topic": "espionage",
        "value": "yes",
        "next": page,
    }
    # A GET on the endpoint (a mail scanner following a link) records nothing.
    assert c.get("/marks", params=data).status_code == 405
    assert c.post("/marks", data={**data, "csrf": "forged"}).status_code == 403
    assert marks_in_force(room) == {}
    first = c.post("/marks", data=data)
    assert first.status_code == 303 and first.headers["location"] == page
    again = c.post("/marks", data=data, headers={"Accept": "application/json"})
    assert again.json()["duplicate"] is True
    with room.warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM marks") == 1
    assert "espionage" in tags(room, a)
    html = c.get(page).text
    assert re.search(r'value="yes" data-key="y" class="yes on"', html)
    bad = c.post("/marks", data={**data, "request_id": "r2", "topic": "weather"})
    assert bad.status_code == 400 and "unknown topic" in bad.text


def test_concurrent_marks_are_each_recorded(room):
    c = client(room)
    csrf = form_of(c, "/")["csrf"]
    ids = [room.ids[k] for k in ("sanctions", "copy", "sanctions_de", "hostile", "festival")]
    errors: list[object] = []

    def post(article: int) -> None:
        r = c.post(
            "/marks",
            data={
                "csrf": csrf,
                "request_id": f"c{article}",
                "kind": "topic",
                "article_id": str(article),
                "topic": "espionage",
                "value": "no",
                "next": "/",
            },
        )
        if r.status_code != 303:
            errors.append(r.text)

    threads = [threading.Thread(target=post, args=(a,)) for a in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert marks_in_force(room) == {(a, "espionage"): False for a in ids}


def test_a_mark_made_while_a_write_holds_the_warehouse_waits_and_is_recorded(room):
    path = room.warehouse.path
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time, duckdb
            con = duckdb.connect({str(path)!r})
            con.execute("BEGIN TRANSACTION")
            con.execute("UPDATE articles SET relevance = relevance WHERE id = 1")
            print("held", flush=True)
            time.sleep(1.5)
            con.execute("COMMIT")
            con.close()
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = cli_run(room, "mark", str(room.ids["festival"]), "--topic", "sanctions", "--yes")
        assert r.exit_code == 0, r.output
    finally:
        holder.wait(30)
        holder.stdout.close()
    assert marks_in_force(room) == {(room.ids["festival"], "sanctions"): True}


def test_marks_are_exported_with_the_articles(room, tmp_path):
    import duckdb

    a = room.ids["festival"]
    assert cli_run(room, "mark", str(a), "--topic", "sanctions", "--yes").exit_code == 0
    assert cli_run(room, "mark", str(a), "--topic", "sanctions", "--no").exit_code == 0
    out = tmp_path / "lake"
    assert cli_run(room, "export", str(out)).exit_code == 0
    rows = duckdb.sql(
        f"SELECT article_id, topic, value, in_force FROM read_parquet('{out}/marks/*/*.parquet', "
        "hive_partitioning = true) ORDER BY id"
    ).fetchall()
    assert rows == [(a, "sanctions", True, False), (a, "sanctions", False, True)]


def test_trainer_page_asks_about_articles_and_trains_on_post(room):
    app = build(
        room.settings,
        room.warehouse,
        "127.0.0.1",
        8470,
        clock=lambda: NOW,
        env={},
        services=lambda: room.services,
    )
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        page = c.get("/topics/espionage/train.json")
        assert page.status_code == 200
        data = page.json()
        assert data["topic"] == "espionage" and data["marks"] == 0 and data["version"] is None
        asked = [x["article_id"] for x in data["candidates"]]
        assert asked and set(asked) <= set(room.ids.values())
        assert c.get("/topics/weather/train").status_code == 404
        html = c.get("/topics/espionage/train").text
        assert 'action="/marks"' in html and "Most like the topic first" in html
        # Marks on two articles, then "train now": a version learned from them.
        csrf = form_of(c, "/topics/espionage/train")["csrf"]
        for key, value in (("hostile", "yes"), ("festival", "no")):
            r = c.post(
                "/marks",
                data={
                    "csrf": csrf,
                    "request_id": f"t-{key}",
                    "kind": "topic",
                    "article_id": str(room.ids[key]),
                    "topic": "espionage",
                    "value": value,
                    "next": "/",
                },
            )
            assert r.status_code == 303
        assert c.post("/topics/espionage/train", data={"csrf": "forged"}).status_code == 403
        assert c.post("/topics/espionage/train", data={"csrf": csrf}).status_code == 303
        after = c.get("/topics/espionage/train.json").json()
        assert (after["marks"], after["yes"], after["no"]) == (2, 1, 1)
        assert room.ids["hostile"] not in [x["article_id"] for x in after["candidates"]]
