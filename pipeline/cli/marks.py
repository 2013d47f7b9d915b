"""`newswatch mark` and `newswatch marks list`: teaching newswatch from the terminal."""

from __future__ import annotations

import click

from pipeline.app import marking
from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option
from pipeline.store import marks as mark_store


@click.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--topic", metavar="SLUG", help="The topic the articles are (not) about.")
@click.option("--yes", "answer", flag_value="yes", help="The articles are about --topic.")
@click.option("--no", "answer", flag_value="no", help="The articles are not about --topic.")
@click.option("--off-theme", is_flag=True, help="The articles are nothing for this installation.")
@click.option("--split", is_flag=True, help="The article (one ID) is not part of its story.")
@click.option("--merge", is_flag=True, help="The two story IDs given are one story.")
@click.option("--undo", is_flag=True, help="Withdraw the mark (--topic or --off-theme).")
@pass_app
def mark(
    app: App,
    ids: tuple[int, ...],
    topic: str | None,
    answer: str | None,
    off_theme: bool,
    split: bool,
    merge: bool,
    undo: bool,
) -> None:
    """Mark articles or stories so newswatch learns from them.

    \b
      newswatch mark 812 817 --topic sanctions --yes
      newswatch mark 903 --topic espionage --no
      newswatch mark 903 --topic espionage --undo
      newswatch mark 455 --off-theme
      newswatch mark --split 812        (ID is an article)
      newswatch mark --merge 640 702    (IDs are stories)
    """
    chosen = [
        name
        for name, on in (
            ("--topic", topic),
            ("--off-theme", off_theme),
            ("--split", split),
            ("--merge", merge),
        )
        if on
    ]
    if len(chosen) != 1:
        raise click.UsageError("give one of --topic T, --off-theme, --split or --merge")
    if not ids:
        raise click.UsageError("give the article IDs (for --merge, the two story IDs)")
    s, wh, by = app.settings, app.warehouse, marking.analyst()
    if topic:
        if (answer is None) == (not undo):
            raise click.UsageError("with --topic give --yes, --no or --undo")
        value = None if undo else answer == "yes"
        done = marking.mark_topic(s, wh, ids, topic, value, by=by, via="cli")
    elif off_theme:
        done = marking.mark_off_theme(s, wh, ids, not undo, by=by, via="cli")
    elif split:
        if len(ids) != 1:
            raise click.UsageError("--split takes one article ID")
        done = marking.mark_split(s, wh, ids[0], by=by, via="cli")
    else:
        if len(ids) != 2:
            raise click.UsageError("--merge takes two story IDs")
        done = marking.mark_merge(s, wh, ids[0], ids[1], by=by, via="cli")
    click.echo(f"{done.effect} (mark {', '.join(map(str, done.ids))})")


@click.group()
def marks() -> None:
    """Marks made so far."""


@marks.command("list")
@click.option("--article", type=int, help="Only the marks on this article.")
@click.option("--topic", metavar="SLUG", help="Only the marks for this topic.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@format_option()
@pass_app
def list_marks(app: App, article: int | None, topic: str | None, limit: int, fmt: str) -> None:
    """The latest marks, newest first; `in_force` is false for a mark a later one replaced."""
    with app.warehouse.connect(read_only=True, wait_s=30) as db:
        rows = mark_store.history(db, limit=limit, article_id=article, topic=topic)
    columns = [
        "id",
        "marked_at",
        "marked_by",
        "via",
        "kind",
        "article_id",
        "topic",
        "story_id",
        "other_story_id",
        "value",
        "in_force",
        "title",
    ]
    if fmt == "table":  # what a terminal's width holds; csv and json carry every column
        columns = [
            "id",
            "marked_at",
            "marked_by",
            "kind",
            "article_id",
            "topic",
            "value",
            "in_force",
            "title",
        ]
    emit(columns, [[r[c] for c in columns] for r in rows], fmt, max_width=40)
