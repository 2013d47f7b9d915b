"""Why an article is stored the way it is: its tags with their evidence, and how every topic of
the current topics file scores it now (the library behind `newswatch explain`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.store import stories as stories_store
from pipeline.store import topics as topics_store


@dataclass(frozen=True)
class StoredTag:
    """A topic stored for the article, with its evidence."""

    topic: str
    score: float
    matched_terms: tuple[str, ...]
    passage: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class TopicScore:
    """How one topic of the current topics file scores the article now."""

    topic: str
    score: float
    threshold: float
    meaning: float
    keyword_weight: float
    min_keyword_weight: float
    context_ok: bool
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """Everything `newswatch explain` shows about one article."""

    article: dict[str, Any]
    tags: tuple[StoredTag, ...]
    scores_now: tuple[TopicScore, ...]
    story: dict[str, Any] | None = None  # stored story evidence, the story's size, its merges


def explain_article(services: Services, article_id: int) -> Explanation:
    """Stored tags and current topic scores of an article; NewswatchError if there is none."""
    with services.warehouse.connect(read_only=True, wait_s=30) as db:
        info = topics_store.explain_rows(db, article_id)
        if info is None:
            raise NewswatchError(f"no article with id {article_id}")
        leads = services.lead_embedder
        [(_, title, text, embedding, lang)] = list(
            topics_store.stored_embeddings(db, [article_id], leads.name if leads else None)
        )
        story = stories_store.story_rows(db, article_id)
        services.refresh(db)
    tags = tuple(
        StoredTag(
            t["topic"],
            float(t["score"]),
            tuple(t["matched_terms"] or ()),
            t["passage"] or "",
            json.loads(t["evidence"] or "{}"),
        )
        for t in info.pop("tags")
    )
    scores = []
    for topic in services.tagger.topics:
        r = services.tagger.score(topic, text, embedding, title, lang)
        scores.append(
            TopicScore(
                topic.slug,
                float(r.score),
                topic.threshold,
                float(r.meaning),
                float(r.lexical.weight),
                topic.min_keyword_weight,
                bool(r.lexical.context),
                tuple(r.lexical.terms),
            )
        )
    return Explanation(info, tags, tuple(scores), story)


def story_lines(story: dict[str, Any] | None) -> list[str]:
    """Why the article is in its story, in plain lines (what was decided, not recomputed)."""
    if not story:
        return []
    ev = story.get("evidence") or {}
    size = (
        f"story {story['story_id']}: {story['originals']} originals, {story['articles']} articles"
    )
    rule = ev.get("rule")
    if not ev:
        lines = [
            f"{size}; no evidence stored (decided before stories kept it: "
            f"`newswatch dedup --rebuild` records it)"
        ]
    elif rule == "copy":
        lines = [
            f"{size}; a copy ({ev.get('kind')}, {ev.get('similarity')}) of article "
            f"{ev.get('of')}, so in its story"
        ]
    elif rule == "new story":
        lines = [f"{size}; started it: no earlier story's evidence held"]
        if ev.get("nearest"):
            lines.append(f"  nearest: {_link_text(ev['nearest'])}")
    else:
        lines = [f"{size}; joined by rule {rule!r} with article {ev.get('via')}: {_link_text(ev)}"]
        lines.append(f"  {ev.get('members_agreeing')} of {ev.get('members')} members agreed")
        if ev.get("retold"):
            lines.append(
                f"  retells {_link_text(ev['retold'])} in another language: support enough"
            )
        if ev.get("shared_words"):
            lines.append(f"  shared rare words: {', '.join(ev['shared_words'])}")
        for other in ev.get("also_held", []):
            lines.append(f"  also held, not joined: {_link_text(other)}")
    for m in ev.get("merged", []):
        lines.append(
            f"  merged story {m['story']} into this one (stories' closeness "
            f"{m.get('closeness')}; {_link_text(m)})"
        )
    for story_id, why in (ev.get("refused") or {}).items():
        lines.append(f"  story {story_id} refused: {why}")
    for m in story.get("merges", []):
        lines.append(
            f"  story {m['story_id']} was merged into {m['merged_into']} by article "
            f"{m['article_id']} at {m['merged_at']:%Y-%m-%d %H:%M}"
        )
    return lines


def _link_text(link: dict[str, Any]) -> str:
    parts = [
        f"article {link.get('via')} (story {link.get('story')})",
        f"best chunk cosine {link.get('meaning')}",
        f"words {link.get('words')}",
    ]
    if "headline" in link:
        parts.append(f"headline {link['headline']}")
    if "lead" in link:
        parts.append(f"multilingual lead (centered) {link['lead']}")
    return ", ".join(parts)
