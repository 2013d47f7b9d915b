"""Queries behind the reading room's pages: the stories of recent days, one story's reports and
merges, one article with its copies, tags and mentions, entities by week, what is new."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.store import articles as article_store
from pipeline.store.alerts import SOURCE_SQL
from pipeline.store.db import Db
from pipeline.store.sqlvalues import id_match, story_articles


@dataclass(frozen=True)
class StoryFilters:
    """What narrows the list of stories: reports stored since, a topic, an entity, a language,
    a feed; on-topic reports only unless `everything`."""

    since: datetime
    topic: str | None = None
    entity: str | None = None
    lang: str | None = None
    feed: int | None = None
    everything: bool = False


def recent_stories(
    db: Db, filters: StoryFilters, recent_from: datetime, limit: int
) -> list[dict[str, Any]]:
    """Stories with a feed report stored since `filters.since` that passes the filters, newest
    activity first: their lead original, report and source counts (all, since, since
    `recent_from`), languages, first and latest report."""
    where = ["a.source = 'feed'", "a.fetched_at >= ?"]
    params: list[Any] = [filters.since]
    if not filters.everything:
        where.append("a.on_topic")
    if filters.topic:
        where.append("a.id IN (SELECT article_id FROM article_topics WHERE topic = ?)")
        params.append(filters.topic)
    if filters.entity:
        where.append("a.id IN (SELECT article_id FROM article_entities WHERE entity = ?)")
        params.append(filters.entity)
    if filters.lang:
        where.append("(a.lang = ? OR a.lang LIKE ? || '-%')")
        params += [filters.lang, filters.lang]
    if filters.feed is not None:
        where.append("a.feed_id = ?")
        params.append(filters.feed)
    return db.dicts(
        "WITH hit AS (SELECT coalesce(a.story_id, a.id) AS story_id, max(a.fetched_at) AS seen "
        f"FROM articles a WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY seen DESC LIMIT ?) "
        "SELECT s.story_id, "
        "min(a.id) FILTER (WHERE a.duplicate_of IS NULL) AS lead_id, "
        "arg_min(a.title, a.id) AS first_title, "
        "count(*) AS reports, count(*) FILTER (WHERE a.duplicate_of IS NULL) AS originals, "
        f"count(DISTINCT {SOURCE_SQL}) AS sources, "
        f"count(DISTINCT {SOURCE_SQL}) FILTER (WHERE a.fetched_at >= ?) AS recent_sources, "
        "count(*) FILTER (WHERE a.fetched_at >= ?) AS new_reports, "
        "min(a.fetched_at) AS first_seen, max(a.fetched_at) AS last_seen, "
        "list(DISTINCT a.lang ORDER BY a.lang) FILTER (WHERE a.lang IS NOT NULL) AS langs "
        "FROM hit s JOIN articles a ON coalesce(a.story_id, a.id) = s.story_id "
        "LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.source = 'feed' GROUP BY s.story_id",
        [*params, limit, recent_from, filters.since],
    )


def leads(db: Db, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The articles that stand for stories: title, link, outlet, language, times, relevance,
    the feed's description (`lead`, None when the feed gave none) and the text's hash. The text
    itself is left to `text_openings`: read back by id it costs DuckDB far more than every other
    column together (see there)."""
    if not ids:
        return {}
    rows = db.dicts(
        f"SELECT a.id, a.title, a.url, {SOURCE_SQL} AS source, a.lang, a.published_at, "
        "a.fetched_at, a.relevance, left(a.description, 400) AS lead, a.content_hash "
        f"FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id WHERE {id_match('a.id', ids)}",
    )
    return {int(r["id"]): r for r in rows}


def text_openings(
    db: Db, ids: Sequence[int], chars: int = 400, hashes: Mapping[int, str] | None = None
) -> dict[int, str]:
    """The first `chars` characters of these articles' texts: from the text store beside the
    warehouse where it holds them (`articles.texts`). `articles` has no index (migration 0013),
    so DuckDB reads every vector of texts that holds one of the others: 26 ms for 300 ids among
    the last 10,000 of 100,000 articles, 83 ms for 20 ids spread over all of them."""
    return {aid: text[:chars] for aid, text in article_store.texts(db, ids, hashes).items()}


def story_topics(db: Db, story_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """{story: {topic: best score of any of its reports}}."""
    out: dict[int, dict[str, float]] = {}
    if not story_ids:
        return out
    for story, topic, score in db.rows(
        "SELECT coalesce(a.story_id, a.id), t.topic, max(t.score) FROM article_topics t "
        f"JOIN {story_articles(story_ids)} a ON a.id = t.article_id GROUP BY ALL "
        "ORDER BY 3 DESC"
    ):
        out.setdefault(int(story), {})[topic] = float(score)
    return out


def story_entities(db: Db, story_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{story: {watchlist entity: mentions in its reports}}, most mentioned first."""
    out: dict[int, dict[str, int]] = {}
    if not story_ids:
        return out
    for story, entity, mentions in db.rows(
        "SELECT coalesce(a.story_id, a.id), e.entity, sum(e.mentions) FROM article_entities e "
        f"JOIN {story_articles(story_ids)} a ON a.id = e.article_id GROUP BY ALL "
        "ORDER BY 3 DESC, 2"
    ):
        out.setdefault(int(story), {})[entity] = int(mentions)
    return out


def current_story(db: Db, story_id: int) -> int | None:
    """The story a story id names now: itself, the story it was merged into, or None."""
    if db.scalar(f"SELECT count(*) FROM {story_articles([story_id])} a"):
        return story_id
    into = db.scalar("SELECT current_id FROM story_merges WHERE story_id = ?", [story_id])
    return None if into is None else int(into)


def story_members(db: Db, story_id: int) -> list[dict[str, Any]]:
    """Every report of a story (seeds included), oldest first, with its outlet and evidence."""
    rows = db.dicts(
        f"SELECT a.id, a.source AS kind, a.title, a.url, {SOURCE_SQL} AS source, a.lang, "
        "a.published_at, a.fetched_at, a.duplicate_of, a.duplicate_kind, "
        "a.duplicate_similarity, a.relevance, a.word_count, a.story_evidence "
        f"FROM {story_articles([story_id])} a LEFT JOIN feeds f ON f.id = a.feed_id "
        "ORDER BY a.fetched_at, a.id"
    )
    for r in rows:
        raw = r.pop("story_evidence")
        r["story_evidence"] = json.loads(raw) if raw else {}
    return rows


def merges_into(db: Db, story_id: int) -> list[dict[str, Any]]:
    """Stories folded into this one: which, when, by which article, and how."""
    rows = db.dicts(
        "SELECT story_id, merged_into, article_id, merged_at, evidence FROM story_merges "
        "WHERE current_id = ? ORDER BY merged_at, story_id",
        [story_id],
    )
    for r in rows:
        r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else {}
    return rows


def article(db: Db, article_id: int) -> dict[str, Any] | None:
    """One article as stored, with its outlet and feed."""
    rows = db.dicts(
        f"SELECT a.id, a.source AS kind, a.feed_id, f.title AS feed_title, a.url, "
        f"a.canonical_url, a.title, a.author, a.published_at, a.fetched_at, a.lang, "
        f"{SOURCE_SQL} AS source, a.content_hash, a.text_source, a.text_source_reason, "
        "a.word_count, "
        "a.duplicate_of, a.duplicate_kind, a.duplicate_similarity, "
        "coalesce(a.story_id, a.id) AS story_id, a.relevance, a.on_topic, a.story_evidence, "
        "a.archive_source FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.id = ?",
        [article_id],
    )
    if not rows:
        return None
    row = rows[0]
    # The text from the text store beside the warehouse where it holds it (`articles.texts`).
    digest = row.pop("content_hash")
    row["text"] = article_store.texts(db, [article_id], {article_id: digest}).get(article_id, "")
    raw = row.pop("story_evidence")
    row["story_evidence"] = json.loads(raw) if raw else {}
    return row


def copies_of(db: Db, article_id: int) -> list[dict[str, Any]]:
    """The stored copies of an article, oldest first."""
    return db.dicts(
        f"SELECT a.id, a.title, a.url, {SOURCE_SQL} AS source, a.fetched_at, "
        "a.duplicate_kind, a.duplicate_similarity FROM articles a "
        "LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.duplicate_of = ? ORDER BY a.id",
        [article_id],
    )


def titles(db: Db, ids: Sequence[int]) -> dict[int, str]:
    """{article id: title}."""
    if not ids:
        return {}
    return {
        int(i): t for i, t in db.rows(f"SELECT id, title FROM articles WHERE {id_match('id', ids)}")
    }


def article_tags(db: Db, article_id: int) -> list[dict[str, Any]]:
    """An article's stored topics with score, matched terms, passage and evidence."""
    rows = db.dicts(
        "SELECT topic, score, matched_terms, passage, evidence FROM article_topics "
        "WHERE article_id = ? ORDER BY score DESC",
        [article_id],
    )
    for r in rows:
        r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else {}
    return rows


def article_mentions(db: Db, article_id: int) -> list[dict[str, Any]]:
    """The watchlist entities an article names, with mentions and the aliases found."""
    return db.dicts(
        "SELECT entity, mentions, evidence, aliases FROM article_entities WHERE article_id = ? "
        "ORDER BY mentions DESC, entity",
        [article_id],
    )


def entity_weeks(db: Db, entity: str | None, since: datetime) -> dict[str, dict[str, int]]:
    """{entity: {ISO week: feed articles naming it}} since a date (one entity, or all)."""
    out: dict[str, dict[str, int]] = {}
    for name, week, n in db.rows(
        "SELECT e.entity, strftime(a.fetched_at, '%G-W%V'), count(*) FROM article_entities e "
        "JOIN articles a ON a.id = e.article_id WHERE a.source = 'feed' AND a.fetched_at >= ? "
        "AND (? IS NULL OR e.entity = ?) GROUP BY ALL ORDER BY 1, 2",
        [since, entity, entity],
    ):
        out.setdefault(name, {})[week] = int(n)
    return out


def entity_stories(db: Db, entity: str, limit: int) -> list[dict[str, Any]]:
    """The latest stories naming an entity: story, its lead title, reports naming it, latest."""
    return db.dicts(
        "SELECT coalesce(a.story_id, a.id) AS story_id, arg_min(a.title, a.id) AS title, "
        "count(*) AS reports, sum(e.mentions) AS mentions, max(a.fetched_at) AS last_seen "
        "FROM article_entities e JOIN articles a ON a.id = e.article_id "
        "WHERE e.entity = ? AND a.source = 'feed' GROUP BY 1 ORDER BY last_seen DESC LIMIT ?",
        [entity, limit],
    )


def languages(db: Db, since: datetime) -> list[str]:
    """Languages of feed articles stored since a date, most frequent first."""
    return [
        str(lang)
        for (lang,) in db.rows(
            "SELECT lang FROM articles WHERE source = 'feed' AND fetched_at >= ? "
            "AND lang IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1",
            [since],
        )
    ]


def latest_article(db: Db) -> tuple[int, int]:
    """The newest article id and how many feed articles are stored (what live updates watch)."""
    row = db.one("SELECT coalesce(max(id), 0), count(*) FROM articles") or (0, 0)
    return int(row[0]), int(row[1])


def new_since(db: Db, after_id: int) -> int:
    """How many feed articles were stored after an article id."""
    return int(
        db.scalar("SELECT count(*) FROM articles WHERE id > ? AND source = 'feed'", [after_id]) or 0
    )


def story_tag_evidence(db: Db, story_id: int) -> list[dict[str, Any]]:
    """Per topic of a story: its best score, how many reports carry it, and the best-scoring
    report's matched terms and passage (the evidence)."""
    return db.dicts(
        "SELECT t.topic, max(t.score) AS score, count(*) AS reports, "
        "arg_max(t.article_id, t.score) AS article_id, arg_max(t.matched_terms, t.score) "
        "AS matched_terms, arg_max(t.passage, t.score) AS passage FROM article_topics t "
        f"JOIN {story_articles([story_id])} a ON a.id = t.article_id "
        "GROUP BY t.topic ORDER BY score DESC"
    )


def metrics(db: Db) -> dict[str, Any]:
    """The operator's figures: feeds by health, articles by source and kind, alerts and
    deliveries by status, each job's latest finished run (job, status, seconds, finished)."""
    articles: dict[tuple[str, str], int] = {}
    for source, duplicate, n in db.rows(
        "SELECT source, duplicate_of IS NOT NULL, count(*) FROM articles GROUP BY ALL"
    ):
        articles[(str(source), "duplicate" if duplicate else "original")] = int(n)
    runs = [
        (str(job), str(status), float(seconds or 0.0), float(at))
        for job, status, seconds, at in db.rows(
            "SELECT job, arg_max(status, finished_at), "
            "arg_max(epoch(finished_at) - epoch(started_at), finished_at), "
            "epoch(max(finished_at)) FROM runs WHERE finished_at IS NOT NULL GROUP BY job "
            "ORDER BY job"
        )
    ]
    return {
        "feeds": {
            str(h): int(n)
            for h, n in db.rows(
                "SELECT health, count(*) FROM feed_health WHERE in_config GROUP BY 1"
            )
        },
        "articles": articles,
        "alerts": {
            str(s): int(n) for s, n in db.rows("SELECT status, count(*) FROM alerts GROUP BY 1")
        },
        "deliveries": {
            str(s): int(n)
            for s, n in db.rows("SELECT status, count(*) FROM alert_deliveries GROUP BY 1")
        },
        "runs": runs,
    }
