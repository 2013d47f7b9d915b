"""The reading room in a real browser: Playwright driving Debian's Chromium (nothing downloaded).

Skipped, saying why, where Chromium or Playwright is missing; `.ci/run` installs Chromium so CI
runs these. With WEB_SCREENSHOTS=DIR the pages are also saved as screenshots at desktop and phone
width, light and dark.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.web.server import Address, BackgroundServer, build
from tests.webroom import NOW, Room, build_room, more

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
    ),
]

#: The flags that keep Chromium off the network it has no business with (and runnable as root).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(make_settings, tmp_path, fake_embedder) -> Iterator[tuple[Room, str]]:
    room = build_room(make_settings, tmp_path, fake_embedder, "[web]\nrefresh_s = 2\n")
    port = free_port()
    # The clock is set so the room's articles are "the last days"; the live update adds one now.
    app = build(
        room.settings,
        room.warehouse,
        "127.0.0.1",
        port,
        encoder=lambda: room.services.embedder,
        clock=lambda: NOW,
        env={},
    )
    server = BackgroundServer(app, Address("127.0.0.1", port))
    server.start()
    try:
        yield room, f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def shoot(page: object, name: str) -> None:
    """Save a screenshot when WEB_SCREENSHOTS names a folder (for looking at the pages)."""
    folder = os.environ.get("WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_read_follow_a_story_across_languages_search_and_move_with_keys(served, browser):
    room, base = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    assert page.title().endswith("newswatch")
    shoot(page, "front-desktop-light")
    # j selects the first story, k stays on it, o opens it.
    page.keyboard.press("j")
    first = page.locator(".item.selected")
    assert first.count() == 1
    story_id = first.get_attribute("data-story")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator(".item.selected").get_attribute("data-story") == story_id
    page.keyboard.press("o")
    page.wait_for_url(f"**/stories/{story_id}")
    assert page.locator("li.report").count() >= 2
    langs = page.locator("li.report .lang").all_inner_texts()
    assert {"en", "de"} <= set(langs)
    shoot(page, "story-desktop-light")
    # An article of the story, with its mentions marked.
    page.locator("li.report a.item-link").first.click()
    assert page.locator("section.text mark").count() >= 1
    shoot(page, "article-desktop-light")
    # / focuses the search box; Enter searches.
    page.keyboard.press("/")
    page.keyboard.type("Spacety radar imagery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.locator(".result").count() >= 1
    assert page.locator(".result mark").count() >= 1
    shoot(page, "search-desktop-light")
    page.close()


def test_a_hostile_headline_stays_text(served, browser):
    room, base = served
    page = browser.new_page()
    page.goto(base + "/?all=1")
    assert page.get_by_text("<img src=x onerror=window.__x=1>", exact=False).count() >= 1
    assert page.evaluate("typeof window.__x") == "undefined"
    page.goto(base + f"/articles/{room.ids['hostile']}")
    assert page.evaluate("typeof window.__x") == "undefined"
    page.close()


def test_a_new_article_appears_on_the_open_page(served, browser):
    room, base = served
    page = browser.new_page()
    page.goto(base + "/")
    assert page.get_by_text("Spacety launches a new radar satellite").count() == 0
    more(
        room,
        "Spacety launches a new radar satellite",
        "Spacety launched another radar satellite on Friday, days after the sanctions. " * 3,
        "https://news.example/new-launch",
    )
    # The room looks every 2 s ([web] refresh_s): the report shows well before the default 15 s.
    page.get_by_text("Spacety launches a new radar satellite").wait_for(timeout=9000)
    assert "new report" in page.locator("#live").inner_text()
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_pages_at_desktop_and_phone_width_light_and_dark(served, browser, scheme, width):
    room, base = served
    context = browser.new_context(viewport={"width": width, "height": 860}, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    form = "phone" if width < 600 else "desktop"
    for name, path in [
        ("front", "/"),
        ("story", f"/stories/{room.story_of('sanctions')}"),
        ("article", f"/articles/{room.ids['sanctions']}"),
        ("entities", "/entities"),
        ("feeds", "/feeds"),
        ("sql", "/sql?q=select+id,+title+from+articles"),
    ]:
        page.goto(base + path)
        # Nothing runs wider than the screen (a phone scrolls down, not sideways).
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1 or name == "sql", (name, overflow)
        shoot(page, f"{name}-{form}-{scheme}")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
    time.sleep(0)


def test_marking_an_article_changes_its_tag(served, browser):
    room, base = served
    page = browser.new_page()
    page.goto(base + f"/articles/{room.ids['festival']}")
    form = page.locator("form.mark", has=page.locator("input[name=topic][value=espionage]"))
    assert form.locator("button.yes.on").count() == 0
    form.locator("button.yes").click()
    form.locator("button.yes.on").wait_for(timeout=10000)
    page.reload()
    # The mark is the article's answer: the topic is now among its tags, with the mark as why.
    assert "Espionage" in page.locator("ul.evidence").inner_text()
    assert page.locator("form.mark button.yes.on").count() == 1
    # y / n on a selected story of the front page marks its lead for the story's topic.
    page.goto(base + "/")
    page.keyboard.press("j")
    page.keyboard.press("n")
    page.locator(".toast").wait_for(timeout=10000)
    assert "not about" in page.locator(".toast").inner_text()
    page.close()


def test_a_busy_entitys_week_counts_stay_whole_at_phone_width(served, browser):
    """An entity named hundreds of times a week: each week's count stays on one line at phone
    width (the table scrolls sideways inside the page; the page itself does not)."""
    room, base = served
    with room.warehouse.transaction() as db:
        first = int(db.scalar("SELECT max(id) FROM articles")) + 1
        # 150 reports a day over the last six days of the room's clock, each naming Spacety.
        db.execute(
            "INSERT INTO articles (id, source, url, title, fetched_at, text, text_source, "
            "content_hash, word_count) SELECT ? + i, 'feed', 'https://busy.example/' || i, "
            "'Spacety report ' || i, ?::TIMESTAMPTZ - to_minutes(i * 58), 'Spacety.', 'page', "
            "'busy' || i, 1 FROM range(900) r(i)",
            [first, NOW],
        )
        db.execute(
            "INSERT INTO article_entities (article_id, entity, mentions, first_offset, evidence, "
            "aliases) SELECT id, 'Spacety', 1, 0, 'Spacety.', [] FROM articles WHERE id >= ?",
            [first],
        )
    context = browser.new_context(viewport={"width": 390, "height": 860})
    page = context.new_page()
    page.goto(base + "/entities/Spacety")
    counts = page.locator("table.weeks td").all_inner_texts()
    assert max(int(c) for c in counts) >= 100  # three digits in some week
    # One line box per count: a count broken across lines has two.
    lines = page.evaluate(
        "[...document.querySelectorAll('table.weeks td')].map(td => {"
        " const r = document.createRange(); r.selectNodeContents(td);"
        " return r.getClientRects().length; })"
    )
    assert set(lines) == {1}, lines
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    shoot(page, "entity-busy-phone-light")
    context.close()
