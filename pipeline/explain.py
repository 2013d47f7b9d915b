"""Why an article is stored the way it is: its tags with their evidence, and how every topic of
the current topics file scores it now (the library behind `newswatch explain`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import NewswatchError
from pipeline.ingest.services import Services
from pipeline.store import topics_store


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


def explain_article(services: Services, article_id: int) -> Explanation:
    """Stored tags and current topic scores of an article; NewswatchError if there is none."""
    with services.warehouse.connect(read_only=True, wait_s=30) as db:
        info = topics_store.explain_rows(db, article_id)
        if info is None:
            raise NewswatchError(f"no article with id {article_id}")
        [(_, title, text, embedding)] = list(topics_store.stored_embeddings(db, [article_id]))
        services.refresh(db)
    tags = tuple(StoredTag(t["topic"], float(t["score"]), tuple(t["matched_terms"] or ()),
                           t["passage"] or "", json.loads(t["evidence"] or "{}"))
                 for t in info.pop("tags"))
    scores = []
    for topic in services.tagger.topics:
        score, meaning, lexical, _ = services.tagger.score(topic, text, embedding, title)
        scores.append(TopicScore(topic.slug, float(score), topic.threshold, float(meaning),
                                 float(lexical.weight), topic.min_keyword_weight,
                                 bool(lexical.context), tuple(lexical.terms)))
    return Explanation(info, tags, tuple(scores))
