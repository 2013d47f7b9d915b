"""Why an article is stored the way it is: its tags with their evidence, and how every topic of
the current topics file scores it now (the library behind `newswatch explain`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.models import (
    CopyEvidence,
    JoinedStoryEvidence,
    NewStoryEvidence,
    StoryEvidence,
    StoryLink,
    StoryMerge,
)
from pipeline.store import stories as stories_store
from pipeline.store import topics as topics_store
from pipeline.tag.topics import learned_evidence


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
    #: the topic's learned part now, when it has one: "learned from ... probability 0.83"
    learned: str | None = None


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
    tagger = services.tagger
    for topic in tagger.topics:
        r, p = tagger.learned_probability(topic, title, text, embedding, lang, article_id)
        model = tagger.learned.get(topic.slug)
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
                learned_line({"learned": learned_evidence(model, p)})
                if model and p is not None
                else None,
            )
        )
    return Explanation(info, tags, tuple(scores), story)


def learned_line(evidence: dict[str, Any]) -> str | None:
    """The line that says a tag was given by a topic's learned part, or by a mark; None when
    the rule gave it."""
    if evidence.get("marked") == "yes":
        by = f" by {evidence['by']}" if evidence.get("by") else ""
        return f"marked yes{by} (mark {evidence.get('mark')}): the mark decides"
    ev = evidence.get("learned")
    if not isinstance(ev, dict):
        return None
    return (
        f"learned from {ev['marks']} marks ({ev['yes']} yes, {ev['no']} no), "
        f"version {ev['version']}, probability {ev['probability']:.2f} "
        f"(given from {ev['threshold']:.2f})"
    )


def story_lines(story: dict[str, Any] | None) -> list[str]:
    """Why the article is in its story, in plain lines (what was decided, not recomputed)."""
    if not story:
        return []
    ev: StoryEvidence | None = story.get("evidence")
    size = (
        f"story {story['story_id']}: {story['originals']} originals, {story['articles']} articles"
    )
    merged: tuple[StoryMerge, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()
    if ev is None:
        lines = [
            f"{size}; no evidence stored (decided before stories kept it: "
            f"`newswatch dedup --rebuild` records it)"
        ]
    elif isinstance(ev, CopyEvidence):
        lines = [f"{size}; a copy ({ev.kind}, {ev.similarity}) of article {ev.of}, so in its story"]
    elif isinstance(ev, NewStoryEvidence):
        lines = [f"{size}; started it: no earlier story's evidence held"]
        if ev.nearest is not None:
            lines.append(f"  nearest: {_link_text(ev.nearest)}")
        refused = ev.refused
    else:
        lines = _joined_lines(size, ev)
        merged, refused = ev.merged, ev.refused
    for m in merged:
        lines.append(
            f"  merged story {m.story} into this one (stories' closeness "
            f"{m.closeness}; {_link_text(m.link)})"
        )
    for story_id, why in refused:
        lines.append(f"  story {story_id} refused: {why}")
    for m in story.get("merges", []):
        lines.append(
            f"  story {m['story_id']} was merged into {m['merged_into']} by article "
            f"{m['article_id']} at {m['merged_at']:%Y-%m-%d %H:%M}"
        )
    return lines


def _joined_lines(size: str, ev: JoinedStoryEvidence) -> list[str]:
    lines = [
        f"{size}; joined by rule {ev.rule!r} with article {ev.link.via}: {_link_text(ev.link)}"
    ]
    lines.append(f"  {ev.members_agreeing} of {ev.members} members agreed")
    if ev.retold is not None:
        lines.append(f"  retells {_link_text(ev.retold)} in another language: support enough")
    if ev.shared_words:
        lines.append(f"  shared rare words: {', '.join(ev.shared_words)}")
    for other in ev.also_held:
        lines.append(f"  also held, not joined: {_link_text(other)}")
    return lines


def _link_text(link: StoryLink) -> str:
    parts = [
        f"article {link.via} (story {link.story})",
        f"best chunk cosine {link.meaning}",
        f"words {link.words}",
    ]
    if link.headline is not None:
        parts.append(f"headline {link.headline}")
    if link.lead:
        parts.append(f"multilingual lead (centered) {link.lead}")
    return ", ".join(parts)
