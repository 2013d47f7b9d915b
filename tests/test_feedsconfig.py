"""The feeds file and OPML: validation, edits that keep comments, round trips, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.feeds.config import add_feeds, load_feeds, parse_opml, remove_feed, render_opml
from pipeline.models import FeedConfig
from tests.conftest import REPO


def test_shipped_feeds_cover_the_theme():
    feeds = load_feeds(REPO / "config" / "feeds.toml")
    assert 15 <= len(feeds) <= 25
    text = (REPO / "config" / "feeds.toml").read_text()
    assert text.count("[[feeds]]  #") == len(feeds)  # one comment per feed
    tags = {t for f in feeds for t in f.tags}
    assert {"sanctions", "space", "cyber", "china", "russia", "state-media"} <= tags


def test_validation_names_file_and_entry(tmp_path):
    path = tmp_path / "feeds.toml"
    path.write_text('[[feeds]]\nurl = "http://a"\n[[feeds]]\ntitle = "no url"\n')
    with pytest.raises(ConfigError, match=r"feeds.toml: \[\[feeds\]\] #2: url is required"):
        load_feeds(path)
    path.write_text('[[feeds]]\nurl = "http://a"\ninterval = 5\n')
    with pytest.raises(ConfigError, match="unknown key 'interval'"):
        load_feeds(path)
    path.write_text('[[feeds]]\nurl = "http://a"\n[[feeds]]\nurl = "http://a"\n')
    with pytest.raises(ConfigError, match="listed twice"):
        load_feeds(path)
    path.write_text('[[feeds]]\nurl = "http://a"\nallow_private = "yes"\n')
    with pytest.raises(ConfigError, match="allow_private must be true or false"):
        load_feeds(path)
    path.write_text('[[feeds]]\nurl = "http://a"\nallow_private = true\n')
    assert load_feeds(path)[0].allow_private is True


def test_a_missing_feeds_file_is_an_error_unless_allowed(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: feeds file not found.*allow_missing"):
        load_feeds(tmp_path / "missing.toml")
    assert load_feeds(tmp_path / "missing.toml", missing_ok=True) == ()


def test_add_and_remove_keep_comments(tmp_path):
    path = tmp_path / "feeds.toml"
    path.write_text('# my feeds\n\n[[feeds]]  # the first\nurl = "http://a/feed"\n')
    added = add_feeds(
        path, [FeedConfig("http://b/feed", "B", 600, ("x",)), FeedConfig("http://a/feed")]
    )
    assert [f.url for f in added] == ["http://b/feed"]
    text = path.read_text()
    assert "# my feeds" in text and "# the first" in text
    assert load_feeds(path)[1] == FeedConfig("http://b/feed", "B", 600, ("x",))
    assert remove_feed(path, "http://a/feed") and not remove_feed(path, "http://zz")
    assert [f.url for f in load_feeds(path)] == ["http://b/feed"]
    assert "# my feeds" in path.read_text()


def test_opml_round_trip():
    feeds = [
        FeedConfig("http://a/feed?x=1&y=2", "A & co", None, ("sanctions",)),
        FeedConfig("http://b/feed", None, None, ()),
    ]
    back = parse_opml(render_opml(feeds).encode())
    assert [(f.url, f.tags) for f in back] == [(f.url, f.tags) for f in feeds]
    assert back[0].title == "A & co"


def test_opml_nested_categories():
    opml = b"""<?xml version="1.0"?><opml version="1.0"><body>
      <outline text="Space"><outline text="SpaceNews" xmlUrl="https://spacenews.com/feed/"/></outline>
      <outline text="Top" type="rss" xmlUrl="https://x.org/rss"/></body></opml>"""
    feeds = parse_opml(opml)
    assert [(f.url, f.tags) for f in feeds] == [
        ("https://spacenews.com/feed/", ("Space",)),
        ("https://x.org/rss", ()),
    ]
    with pytest.raises(ConfigError):
        parse_opml(b"<html></html>")


def test_feeds_cli(make_settings, tmp_path):
    s = make_settings()

    def run(*a: str):
        return CliRunner().invoke(cli, ["--config", s.source, "feeds", *a])

    assert run("add", "http://a.example/feed", "--title", "A", "--tag", "t").exit_code == 0
    again = run("add", "http://a.example/feed")
    assert again.exit_code != 0 and "already" in again.output
    opml = tmp_path / "in.opml"
    opml.write_text(render_opml([FeedConfig("http://b.example/rss", "B")]))
    assert "1 added" in run("import", str(opml)).output
    out = run("export")
    assert "http://a.example/feed" in out.output and "http://b.example/rss" in out.output
    listed = run("list")
    assert listed.exit_code == 0 and "new" in listed.output
    assert run("remove", "http://a.example/feed").exit_code == 0
    assert run("remove", "http://a.example/feed").exit_code != 0
    assert [f.url for f in load_feeds(Path(s.feeds.file))] == ["http://b.example/rss"]
