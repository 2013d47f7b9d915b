"""The per-batch step every writer shares: articles in, decided and tagged records out.

    forecast copies ──► embed the rest ──► decide in order ──► tag (a copy borrows) ──► records
    (by text alone)     (chunk, headline     (a forecast copy that
                         and lead vectors)    is not one is embedded)

Ingest and the archive backfill (through the writer) run `process` on drafts; loading the seed
corpus runs `decide_embedded` on drafts it embedded itself (the seeds' tagger is built from their
vectors first); `dedup --rebuild` runs `decide` over stored articles into a fresh index, then
`tags` on the articles whose vectors or originals changed. The components (models, dedup index,
tagger, watchlist) are those `Services` keeps; this module only uses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace

from pipeline.dedup.index import DedupIndex
from pipeline.ingest.services import Services
from pipeline.ingest.vectors import (
    Heading,
    dedup_doc,
    embed_drafts,
    heading,
    with_headings,
    with_vectors,
)
from pipeline.models import (
    ArticleDraft,
    DedupDecision,
    DedupDoc,
    Embedding,
    StoredArticle,
    TagResult,
)
from pipeline.search.terms import index_terms
from pipeline.store import articles as article_store
from pipeline.textnorm import content_hash, word_count


def borrow_tags(tags: TagResult, original: int) -> TagResult:
    """An original's tags as a copy of it carries them (each topic's evidence names the original,
    so `explain` says where they came from)."""
    return replace(
        tags,
        topics=tuple(replace(t, evidence={**t.evidence, "copy_of": original}) for t in tags.topics),
    )


def lent_vector(embedding: Embedding) -> Embedding:
    """What a copy without vectors keeps of its original's embedding: the article vector."""
    return replace(embedding, chunks=(), title_vector=None, lead_vector=None, lead_model="")


class _Clock:
    """Adds the wall time of named stages into a timings dict (if one is kept)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0


class BatchStep:
    """One batch through the components `services` keeps; `index` stands in for the services'
    dedup index (a rebuild decides into a fresh one). Stage times ("embed", "dedup_tag") are
    added into `timings` when given."""

    def __init__(
        self,
        services: Services,
        *,
        index: DedupIndex | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.services = services
        self.index = index if index is not None else services.index
        self._clock = _Clock(timings)

    def process(
        self,
        drafts: Sequence[ArticleDraft],
        first_id: int,
        embeddings: Sequence[Embedding] | None = None,
    ) -> list[StoredArticle]:
        """Deduplicate, embed what needs vectors, and tag a batch; ids are first_id,
        first_id + 1, ... in order. `embeddings` given (computed elsewhere: the backfill's
        workers) stand in for the model; copies still borrow their original's.

        A copy found by its text alone (the same text as an original, or a confirmed shingle
        overlap) is not embedded: it takes its original's story, topics and article vector
        (`embeddings.chunks` = 0, no `chunk_embeddings` rows). `[dedup] embed_copies` embeds
        every article instead.
        """
        if embeddings is not None and len(embeddings) != len(drafts):
            raise ValueError(f"{len(drafts)} drafts but {len(embeddings)} embeddings")
        ids = [first_id + i for i in range(len(drafts))]
        by_id = dict(zip(ids, drafts, strict=True))
        given = dict(zip(ids, embeddings, strict=True)) if embeddings is not None else None

        def embed(some: Sequence[int]) -> list[Embedding]:
            chosen = [by_id[i] for i in some]
            with self._clock("embed"):
                if given is None:
                    return self.embed(chosen)
                return self.with_headings(chosen, [given[i] for i in some])

        hashes = [content_hash(d.text) for d in drafts]
        with self._clock("dedup_tag"):
            skip = (
                set()
                if self.services.settings.dedup.embed_copies
                else self.index.likely_copies(
                    [dedup_doc(i, d, h, None) for i, d, h in zip(ids, drafts, hashes, strict=True)]
                )
            )
        todo = [i for i in ids if i not in skip]
        own = dict(zip(todo, embed(todo), strict=True))
        with self._clock("dedup_tag"):
            decisions = self.decide(
                [
                    dedup_doc(i, d, h, own.get(i))
                    for i, d, h in zip(ids, drafts, hashes, strict=True)
                ],
                own,
                lambda doc: embed([doc.id])[0],
            )
            return self.records(ids, drafts, hashes, decisions, own)

    def decide_embedded(
        self, ids: Sequence[int], drafts: Sequence[ArticleDraft], embeddings: Sequence[Embedding]
    ) -> list[StoredArticle]:
        """Deduplicate (in order, so copies inside one batch are caught) and tag articles
        embedded already (the seeds)."""
        hashes = [content_hash(d.text) for d in drafts]
        own = dict(zip(ids, self.with_headings(drafts, embeddings), strict=True))
        decisions = self.decide(
            [dedup_doc(i, d, h, own[i]) for i, d, h in zip(ids, drafts, hashes, strict=True)], own
        )
        return self.records(ids, drafts, hashes, decisions, own)

    def decide(
        self,
        docs: Sequence[DedupDoc],
        own: dict[int, Embedding],
        embed_one: Callable[[DedupDoc], Embedding] | None = None,
    ) -> list[DedupDecision]:
        """Decide documents in order into the index. A document without vectors (a forecast
        copy) that is not a copy after all is given vectors by `embed_one`, kept in `own`."""

        def complete(doc: DedupDoc) -> DedupDoc:
            assert embed_one is not None
            own[doc.id] = embed_one(doc)
            return with_vectors(doc, own[doc.id])

        return self.index.decide(docs, complete if embed_one is not None else None)

    def records(
        self,
        ids: Sequence[int],
        drafts: Sequence[ArticleDraft],
        hashes: Sequence[str],
        decisions: Sequence[DedupDecision],
        own: dict[int, Embedding],
    ) -> list[StoredArticle]:
        """The stored records of a decided batch: each article tagged (a copy without vectors
        borrows its original's tags and article vector) with its watchlist entities."""
        copies = {
            i: dec.duplicate_of for i, dec in zip(ids, decisions, strict=True) if i not in own
        }
        lent = self.lend(sorted({o for o in copies.values() if o is not None and o not in own}))
        # An original decided but not written yet has nothing to lend: embed its copies.
        unlent = [
            k
            for k, i in enumerate(ids)
            if i in copies and copies[i] not in lent and copies[i] not in own
        ]
        for k, emb in zip(unlent, self.embed([drafts[k] for k in unlent]), strict=True):
            own[ids[k]] = emb
            del copies[ids[k]]
        heads = {i: heading(d) for i, d in zip(ids, drafts, strict=True) if i in own}
        tags = self.tags(heads, own, copies, {o: t for o, (_, t) in lent.items()})
        watchlist = self.services.watchlist
        out: list[StoredArticle] = []
        for i, d, h, dec in zip(ids, drafts, hashes, decisions, strict=True):
            if i in own:
                emb = own[i]
            else:
                original = copies[i]
                assert original is not None
                emb = lent_vector(own[original]) if original in own else lent[original][0]
            out.append(
                StoredArticle(
                    id=i,
                    draft=d,
                    content_hash=h,
                    word_count=word_count(d.text),
                    embedding=emb,
                    dedup=dec,
                    tags=tags[i],
                    entities=watchlist.match(d.title, d.text),
                    terms=index_terms(d.title, d.text),
                )
            )
        return out

    def tags(
        self,
        heads: Mapping[int, Heading],
        own: Mapping[int, Embedding],
        copies: Mapping[int, int | None],
        lent: Mapping[int, TagResult],
    ) -> dict[int, TagResult]:
        """Tags of the articles with vectors of their own, and of copies without: their
        original's (tagged here, else as `lent` by the warehouse), borrowed. A copy whose
        original has neither gets none."""
        tagger = self.services.tagger
        out = {i: tagger.tag(heads[i][0], heads[i][1], emb, heads[i][2]) for i, emb in own.items()}
        for i, original in copies.items():
            if original is not None and original in own:
                out[i] = borrow_tags(out[original], original)
            elif original is not None and original in lent:
                out[i] = borrow_tags(lent[original], original)
        return out

    def lend(self, originals: Sequence[int]) -> dict[int, tuple[Embedding, TagResult]]:
        """What stored originals lend their copies: the article vector and the tags."""
        if not originals:
            return {}
        with self.services.warehouse.connect(read_only=True) as db:
            return article_store.borrowed(db, originals)

    def embed(self, drafts: Sequence[ArticleDraft]) -> list[Embedding]:
        """Chunk, headline and lead vectors of some drafts."""
        return embed_drafts(self.services.embedder, self.services.lead_embedder, drafts)

    def with_headings(
        self, drafts: Sequence[ArticleDraft], embeddings: Sequence[Embedding]
    ) -> list[Embedding]:
        """Embeddings made elsewhere, given the headline and lead vectors they lack."""
        return with_headings(
            self.services.embedder,
            self.services.lead_embedder,
            [heading(d) for d in drafts],
            embeddings,
        )
