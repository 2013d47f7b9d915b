"""`newswatch retag` and `newswatch explain`: topics and watchlist matches after config changes,
and why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import Progress

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import render_table

if TYPE_CHECKING:
    from pipeline.app.explain import TopicScore


@click.command()
@pass_app
def retag(app: App) -> None:
    """Re-score stored articles against topics.toml and re-scan them for watchlist.toml."""
    # Deferred: the ingest stack (trafilatura, lxml, httpx, feedparser: ~1.5 s) loads only
    # for the commands that run it.
    from pipeline.app.jobs import retag_job
    from pipeline.ingest import Services

    services = Services(app.settings)
    with Progress(transient=True) as progress:
        task = progress.add_task("re-tagging", total=None)
        result = retag_job(
            services,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    changes = result.detail
    if not changes.topics and not changes.entities:
        click.echo("retag: no tag changed")
        return
    for topic, c in changes.topics.items():
        click.echo(f"retag: {topic}: {c['added']} added, {c['removed']} removed")
    for entity, c in changes.entities.items():
        click.echo(f"retag: entity {entity}: {c['added']} added, {c['removed']} removed")


@click.command()
@click.argument("article_id", type=int)
@pass_app
def explain(app: App, article_id: int) -> None:
    """Show why an article got its tags (and how close it came to the others) and why it is in
    its story."""
    # Deferred: the ingest stack, as in retag.
    from pipeline.app.explain import explain_article, learned_line, story_lines
    from pipeline.ingest import Services

    found = explain_article(Services(app.settings), article_id)
    info = found.article
    console = Console()
    console.print(f"[bold]{info['title']}[/]  (id {info['id']}, {info['source']})", highlight=False)
    console.print(f"{info['url']}", highlight=False)
    copy = f"duplicate of {info['duplicate_of']}" if info["duplicate_of"] else "original"
    console.print(
        f"relevance to the seeds {info['relevance']:.3f}; "
        f"{'on-topic' if info['on_topic'] else 'off-topic'}; {copy}, "
        f"story {info['story_id']}"
    )
    for line in story_lines(found.story):
        console.print(line, highlight=False, markup=False)
    for tag in found.tags:
        ev = tag.evidence
        source = f", from the {ev['meaning_from']}" if ev.get("meaning_from") else ""
        console.print(
            f"\n[green]{tag.topic}[/] score {tag.score:.3f} "
            f"(meaning {ev.get('meaning')}{source}, words {ev.get('words')}, "
            f"threshold {ev.get('threshold')})"
        )
        console.print(f"  matched: {', '.join(tag.matched_terms)}", highlight=False)
        console.print(f"  passage: “{tag.passage}”", highlight=False)
        if learned_line(ev):
            console.print(f"  {learned_line(ev)}", highlight=False, markup=False)
    if not found.tags:
        console.print("\nno topic stored")
    for t in found.scores_now:
        if t.learned:
            console.print(f"{t.topic} now: {t.learned}", highlight=False, markup=False)
    _scores_now_table(console, found.scores_now)


def _scores_now_table(console: Console, scores_now: Sequence[TopicScore]) -> None:
    """The table of how the article scores with the current topics file."""
    rows = [
        (
            t.topic,
            f"{t.score:.3f}",
            f"{t.threshold:.2f}",
            f"{t.meaning:.3f}",
            f"{t.keyword_weight:.1f} / {t.min_keyword_weight:.1f}",
            "yes" if t.context_ok else "no",
            ", ".join(t.terms) or "-",
        )
        for t in scores_now
    ]
    render_table(
        [
            "topic",
            "score now",
            "threshold",
            "meaning",
            "keyword weight / needed",
            "context",
            "terms",
        ],
        rows,
        title="scores with the current topics file",
        console=console,
    )
