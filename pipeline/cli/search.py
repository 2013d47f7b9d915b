"""`newswatch search`: hybrid search over the warehouse, one line per story (read-only)."""

from __future__ import annotations

import click

from pipeline.cli.app import App, pass_app
from pipeline.cli.output import emit, format_option
from pipeline.errors import SearchError

_COLUMNS = (
    "rank",
    "story_id",
    "reports",
    "matched",
    "article_id",
    "published",
    "title",
    "site",
    "url",
    "score",
    "why",
    "passage",
    "matched_terms",
    "text_rank",
    "meaning_rank",
    "bm25",
    "similarity",
    "article_ids",
)
_TABLE = ("rank", "reports", "published", "title", "site", "why", "passage")


def _why(hit) -> str:
    parts = []
    if hit.matched_terms:
        parts.append("words: " + ", ".join(hit.matched_terms))
    if hit.similarity is not None:
        parts.append(f"meaning {hit.similarity:.2f}")
    ranks = [
        f"{name} #{rank}"
        for name, rank in (("text", hit.text_rank), ("meaning", hit.meaning_rank))
        if rank
    ]
    if ranks:
        parts.append("ranked " + ", ".join(ranks))
    return "; ".join(parts)


@click.command()
@click.argument("query", required=False)
@click.option(
    "--saved",
    "saved_name",
    metavar="NAME",
    help="Run a saved search of config/searches.toml (options given here override it).",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="Only articles published since: 12h, 30d, 2w, 6m or a date YYYY-MM-DD.",
)
@click.option("--topic", metavar="SLUG", help="Only articles with this topic.")
@click.option("--entity", metavar="NAME", help="Only articles naming this watchlist entity.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=None, help="Stories shown (default 20)."
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "text", "meaning"]),
    default=None,
    help="Rank by full text and meaning fused (default), or by one of them.",
)
@format_option()
@click.option(
    "--max-width",
    type=int,
    default=60,
    show_default=True,
    help="Longest cell shown in table format.",
)
@pass_app
def search(
    app: App,
    query: str | None,
    saved_name: str | None,
    since: str | None,
    topic: str | None,
    entity: str | None,
    limit: int | None,
    mode: str | None,
    fmt: str,
    max_width: int,
) -> None:
    """Search stored articles for QUERY by words and meaning; one line per story.

    Words match in any inflection; "quoted phrases" must appear as written. Each story shows
    its best-matching report, the passage that matched and why (words found, meaning score,
    ranks in the full-text and meaning rankings).
    """
    from pipeline.embed.factory import make_embedder
    from pipeline.models import SearchFilters
    from pipeline.search.engine import CROSS_LINGUAL_TABLE, VectorSource, options_from, prepare
    from pipeline.search.engine import search as run_search
    from pipeline.search.saved import SavedSearches, entity_name, parse_since
    from pipeline.search.terms import ANALYZER
    from pipeline.store import search as search_store
    from pipeline.tag.topics import load_topics
    from pipeline.tag.watchlist import load_watchlist

    settings = app.settings
    if (query is None) == (saved_name is None):
        raise click.UsageError("give a QUERY or --saved NAME (not both)")
    chosen_since = since
    chosen_limit, chosen_mode = limit, mode
    if saved_name is not None:
        saved = SavedSearches(settings.search).get(saved_name)
        query = saved.query
        chosen_since = since or saved.since
        topic = topic or saved.topic
        entity = entity or saved.entity
        chosen_limit = limit or saved.limit
        chosen_mode = mode or saved.mode
    assert query is not None
    try:
        start = parse_since(chosen_since) if chosen_since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--since'") from None
    if topic:
        slugs = [t.slug for t in load_topics(settings.topics.file, settings.seeds.dir)]
        if topic not in slugs:
            raise SearchError(
                f"unknown topic {topic!r}; topics in {settings.topics.file}: {', '.join(slugs)}"
            )
    if entity:
        entity = entity_name(load_watchlist(settings.watchlist.file), entity)
    filters = SearchFilters(since=start, topic=topic, entity=entity)
    embedder = make_embedder(settings)
    sources = [VectorSource("chunk_embeddings", embedder)]
    if (chosen_mode or "hybrid") != "text":
        from pipeline.embed.factory import make_lead_embedder
        from pipeline.embed.multilingual import LeadQueryEncoder

        leads, _ = make_lead_embedder(settings)
        if leads is not None:  # articles in other languages, found through their leads
            sources.append(
                VectorSource(
                    CROSS_LINGUAL_TABLE,
                    LeadQueryEncoder(leads),
                    settings.search.lead_min_similarity,
                )
            )
    # Embedded before the warehouse is opened: a reader holds the daemon's writes back.
    prepared = prepare(query, sources, chosen_mode or "hybrid")
    warehouse = app.warehouse
    with warehouse.query_connection(wait_s=30) as db:
        if warehouse.pending_migrations(db):
            raise SearchError(
                f"{warehouse.path}: warehouse schema is out of date; run `newswatch init`"
            )
        missing = search_store.count_unindexed(db, ANALYZER)
        outcome = run_search(
            db,
            prepared,
            filters=filters,
            mode=chosen_mode or "hybrid",
            limit=chosen_limit or 20,
            options=options_from(settings.search),
        )
    if missing:
        click.echo(
            f"note: {missing} stored article(s) are not in the full-text index yet; "
            f"`newswatch init` indexes them",
            err=True,
        )
    rows = []
    for rank, story in enumerate(outcome.stories, 1):
        hit, info = story.best, story.best.article
        published = info.published_at.date().isoformat() if info.published_at else None
        record = {
            "rank": rank,
            "story_id": story.story_id,
            "reports": story.reports,
            "matched": story.matched,
            "article_id": info.id,
            "published": published,
            "title": info.title,
            "site": info.site or info.source,
            "url": info.url,
            "score": round(hit.score, 5),
            "why": _why(hit),
            "passage": hit.passage,
            "matched_terms": list(hit.matched_terms),
            "text_rank": hit.text_rank,
            "meaning_rank": hit.meaning_rank,
            "bm25": None if hit.bm25 is None else round(hit.bm25, 4),
            "similarity": None if hit.similarity is None else round(hit.similarity, 4),
            "article_ids": list(story.article_ids),
        }
        rows.append(record)
    columns = _TABLE if fmt == "table" else _COLUMNS
    if not rows and fmt == "table":
        click.echo("no stories found", err=True)
        return
    emit(
        columns,
        [[r[c] for c in columns] for r in rows],
        fmt,
        max_width=max_width,
        title=f"{len(rows)} stor{'y' if len(rows) == 1 else 'ies'} for {query!r}",
    )
