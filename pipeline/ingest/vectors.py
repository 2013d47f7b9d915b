"""What an article is compared by: its chunk vectors, its headline vector and (when cross-lingual
linking is on) its multilingual title + lead vector, and the dedup document made of them.

The models are passed in: `Services` owns and loads them; these functions only shape their
output, so the orchestration in `services.py` reads apart from how a vector is put together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from pipeline.dedup.crosslingual import lead_of
from pipeline.embed.english import Embedder
from pipeline.models import ArticleDraft, DedupDoc, Embedding
from pipeline.textnorm import word_count

if TYPE_CHECKING:
    from pipeline.embed.multilingual import LeadEmbedder

log = logging.getLogger(__name__)

#: What a headline and a lead are read from: (title, text, language).
Heading = tuple[str, str, str | None]


def embed_drafts(
    embedder: Embedder, leads: LeadEmbedder | None, drafts: Sequence[ArticleDraft]
) -> list[Embedding]:
    """Chunk, headline and lead vectors of some drafts (long texts logged when cut)."""
    if not drafts:
        return []
    embeddings = embedder.embed([d.text for d in drafts])
    for draft, emb in zip(drafts, embeddings, strict=True):
        if emb.cut:
            log.warning(
                "%s: embedded the first %d of %d chunks (%d words; [embed] "
                "max_chunks); the whole text is stored and compared by overlap",
                draft.url,
                len(emb.chunks),
                emb.windows,
                word_count(draft.text),
            )
    return with_headings(embedder, leads, [heading(d) for d in drafts], embeddings)


def heading(draft: ArticleDraft) -> Heading:
    """What a draft's headline and lead vectors are read from."""
    return draft.title, draft.text, draft.lang


def embed_text(
    embedder: Embedder, leads: LeadEmbedder | None, text: str, title: str, lang: str | None = None
) -> Embedding:
    """One stored text's chunk, headline and lead vectors (a copy that became an original)."""
    return with_headings(embedder, leads, [(title, text, lang)], embedder.embed([text]))[0]


def with_headings(
    embedder: Embedder,
    leads: LeadEmbedder | None,
    heads: Sequence[Heading],
    embeddings: Sequence[Embedding],
) -> list[Embedding]:
    """The embeddings with the headline vectors they lack (one short extra batch for the model)
    and, when `leads` is given, the multilingual title + lead vectors they lack."""
    out = list(embeddings)
    todo = [k for k, e in enumerate(out) if e.title_vector is None]
    if todo:
        vectors = embedder.encode([heads[k][0] or "" for k in todo])
        for k, v in zip(todo, vectors, strict=True):
            out[k] = replace(out[k], title_vector=np.asarray(v, dtype=np.float32))
    todo = [k for k, e in enumerate(out) if e.lead_vector is None]
    if leads is not None and todo:
        vectors = leads.passages([lead_of(*heads[k]) for k in todo])
        for k, v in zip(todo, vectors, strict=True):
            out[k] = replace(out[k], lead_vector=v, lead_model=leads.name)
    return out


def dedup_doc(
    article_id: int, draft: ArticleDraft, digest: str, embedding: Embedding | None
) -> DedupDoc:
    """What the dedup index needs of a draft (no vectors: decided by its text first)."""
    if embedding is None:
        vector, chunks, title = np.zeros(0, np.float32), np.zeros((0, 0), np.float32), None
    else:
        vector, title = embedding.vector, embedding.title_vector
        chunks = np.stack([c.vector for c in embedding.chunks])
    return DedupDoc(
        id=article_id,
        text=draft.text,
        content_hash=digest,
        lang=draft.lang,
        published_at=draft.published_at or draft.fetched_at,
        vector=vector,
        chunk_vectors=chunks,
        is_seed=draft.source == "seed",
        title_vector=title,
        lead_vector=None if embedding is None else embedding.lead_vector,
    )


def with_vectors(doc: DedupDoc, embedding: Embedding) -> DedupDoc:
    """A dedup document given the vectors of an embedding."""
    return replace(
        doc,
        vector=embedding.vector,
        title_vector=embedding.title_vector,
        chunk_vectors=np.stack([c.vector for c in embedding.chunks]),
        lead_vector=embedding.lead_vector,
    )
