"""`newswatch retag` and `newswatch explain`: topics after config changes, and why."""

from __future__ import annotations

import json

import click
from rich.console import Console

from pipeline.cli import cli
from pipeline.cli.app import App, pass_app
from pipeline.cli.output import render_table
from pipeline.errors import NewswatchError


@cli.command()
@pass_app
def retag(app: App) -> None:
    """Re-score every stored article against config/topics.toml (no re-fetching)."""
    from rich.progress import Progress

    from pipeline.ingest import Services
    from pipeline.ingest.upkeep import retag as retag_all
    from pipeline.jobs import writer_lock

    services = Services(app.settings)
    with writer_lock(services.warehouse, "retag", wait_s=60):
        services.warehouse.check_current()
        with Progress(transient=True, disable=None) as progress:
            task = progress.add_task("re-tagging", total=None)
            changes = retag_all(services, lambda done, total: progress.update(
                task, completed=done, total=total))
    if not changes:
        click.echo("retag: no tag changed")
        return
    for topic, c in sorted(changes.items()):
        click.echo(f"retag: {topic}: {c['added']} added, {c['removed']} removed")


@cli.command()
@click.argument("article_id", type=int)
@pass_app
def explain(app: App, article_id: int) -> None:
    """Show why an article got its tags (and how close it came to the others)."""
    from pipeline.ingest import Services
    from pipeline.store import topics_store

    pipe = Services(app.settings)
    with pipe.warehouse.connect(read_only=True, wait_s=30) as db:
        info = topics_store.explain_rows(db, article_id)
        if info is None:
            raise NewswatchError(f"no article with id {article_id}")
        [(aid, title, text, emb)] = list(topics_store.stored_embeddings(db, [article_id]))
        pipe.refresh(db)
    console = Console()
    console.print(f"[bold]{info['title']}[/]  (id {aid}, {info['source']})", highlight=False)
    console.print(f"{info['url']}", highlight=False)
    console.print(f"relevance to the seeds {info['relevance']:.3f}; "
                  f"{'on-topic' if info['on_topic'] else 'off-topic'}; "
                  f"{'duplicate of ' + str(info['duplicate_of']) if info['duplicate_of'] else 'original'}"
                  f", story {info['story_id']}")
    if info["tags"]:
        for tag in info["tags"]:
            ev = json.loads(tag["evidence"] or "{}")
            console.print(f"\n[green]{tag['topic']}[/] score {tag['score']:.3f} "
                          f"(meaning {ev.get('meaning')}, words {ev.get('words')}, "
                          f"threshold {ev.get('threshold')})")
            console.print(f"  matched: {', '.join(tag['matched_terms'])}", highlight=False)
            console.print(f"  passage: “{tag['passage']}”", highlight=False)
    else:
        console.print("\nno topic stored")
    rows = []
    for topic in pipe.tagger.topics:
        score, meaning, lexical, _ = pipe.tagger.score(topic, text, emb, title)
        rows.append((topic.slug, f"{score:.3f}", f"{topic.threshold:.2f}", f"{meaning:.3f}",
                     f"{lexical.weight:.1f} / {topic.min_keyword_weight:.1f}",
                     "yes" if lexical.context else "no",
                     ", ".join(lexical.terms) or "-"))
    render_table(["topic", "score now", "threshold", "meaning", "keyword weight / needed",
                  "context", "terms"], rows, title="scores with the current topics file",
                 console=console)
