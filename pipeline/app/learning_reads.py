"""Stored articles as a topic's learned part reads them: for training (pipeline/app/learning.py)
and for the trainer page (pipeline/app/learning_view.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.models import Embedding
from pipeline.store import topics as topics_store
from pipeline.store.db import Db
from pipeline.tag import learned
from pipeline.tag.learned import Example
from pipeline.tag.topics import Tagger, Topic


@dataclass(frozen=True)
class Stored:
    """A stored article as the learner reads it: the topic-free part of its example."""

    article: int
    title: str
    text: str
    lang: str | None
    embedding: Embedding
    hashed: Any  # its hashed words (a 1-row scipy sparse matrix)


def read_stored(db: Db, ids: Sequence[int], lead_model: str | None) -> dict[int, Stored]:
    """Some stored articles with their vectors (the lead made by `lead_model`) and hashed words,
    by id."""
    rows = list(topics_store.stored_embeddings(db, list(ids), lead_model))
    if not rows:
        return {}
    words = learned.hashed_words([f"{title}\n{text}" for _, title, text, _, _ in rows])
    return {
        int(aid): Stored(int(aid), title, text, lang, emb, words[k])
        for k, (aid, title, text, emb, lang) in enumerate(rows)
    }


def example_of(tagger: Tagger, topic: Topic, s: Stored) -> Example:
    """What a topic's learned part reads of a stored article (the rule's reading of it too)."""
    r = tagger.score(topic, s.text, s.embedding, s.title, s.lang)
    return tagger.example(r, s.title, s.text, s.embedding, s.article, s.hashed)
