"""Deduplication and story clustering: decisions (pure) over an index held between cycles.

Levels, cheapest first (level 1, the entry key / canonical URL, is settled by the orchestrator
before a page is fetched):

2. content hash: the same normalised text as a root original → duplicate, similarity 1.0, kind
   'hash'. The same text as a stored duplicate only makes that duplicate a candidate of level 3.
3. near-duplicate: candidates come from two places, then overlap of the actual text decides.
   - a MinHash sketch of the whole text's 5-word shingles, queried in an LSH index (datasketch):
     finds copies in any language, anywhere in the text;
   - chunk vectors (every 256-word-piece window, not only the first): a chunk of the new text
     close to a chunk of a stored one (cosine ≥ `candidate_similarity`) finds copies whose shared
     part lies anywhere, also beyond the model's first window. English only: the model reads
     English, and unrelated texts in other languages score high with it.
   Each candidate is resolved to its root original (roots counted once; a root's text the index
   no longer holds comes from the text loader), and the new text's shingle overlap with the
   root's own text decides: Jaccard ≥ `jaccard_threshold` (a copy in different clothing), or
   containment ≥ `containment_threshold` in either direction (a copy cut short, or the story with
   another one appended). The best confirmed root wins. Two reports of the same event by
   different outlets share meaning but few 5-word shingles, so they are not merged.
   (pipeline/dedup/copies.py)
4. story (pipeline/dedup/stories.py, fed with the vector hits found here through
   pipeline/dedup/storyindex.py): a new original joins the story of the stored articles within
   `story_window_days` whose evidence holds: best chunk cosine >= `story_similarity` (meaning
   alone), or best chunk cosine >= `story_min_similarity` completed by the rare words both texts
   use (best chunk + tf-idf cosine >= `story_combined_score`), or, for a short text (a teaser, a
   paywall), its headline matching the other text. Best chunk rather than whole-article vector:
   two reports of one event share at least one passage about it, while a long article's mean
   vector blurs into its subject, so that two different events on one subject can score above
   two reports of one event (the seed pairs measured are in bench/README.md). Below
   `story_similarity`, different events share only words common among stored articles. A story
   of `story_support_from` or more members needs `story_support_members` of them to agree, so one
   bridge article does not chain two events; an article that holds with two stories that already
   resemble each other merges them into the earlier one (`story_merges`), and
   `articles.story_id` always names the surviving story. Only English texts are compared by
   chunk vectors; a pair that is not both English is compared by the multilingual title + lead
   vectors when that model is on (the `lead` rule, pipeline/dedup/crosslingual.py), else only as
   copies.

A duplicate points at a root original (the earliest, possibly a seed) that it confirmably overlaps,
and takes its story; `duplicate_similarity` and `duplicate_kind` describe the overlap with that
root. Confirming against the candidate instead would not do: a roundup carrying stories A and B is
stored as a copy of A, and a later copy of B, contained in the roundup, shares no text with A. An
article confirmed only against candidates that are not roots is an original (precision first); it
may still join a story by meaning. `overlap.check_overlaps` recomputes this invariant over
stored duplicates (`newswatch dedup --verify`).

`DedupIndex` is the one entry point: copy detection (pipeline/dedup/copies.py) and the story
side (pipeline/dedup/storyindex.py) each index every article, and both read the chunk vectors
(pipeline/dedup/chunks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.dedup.chunks import ChunkVectors
from pipeline.dedup.copies import CopyFinder, TextLoader
from pipeline.dedup.crosslingual import LeadBook
from pipeline.dedup.stories import StoryRule
from pipeline.dedup.storybook import StoryBook
from pipeline.dedup.storyindex import StoryIndex, lead_lang
from pipeline.dedup.vectorindex import VectorIndex
from pipeline.models import CopyEvidence, DedupDecision, DedupDoc
from pipeline.textnorm import is_english_like

__all__ = ["DedupIndex", "TextLoader", "is_english_like", "lead_lang"]


class DedupIndex:
    """Everything stored so far, held in memory between cycles and rebuilt from the warehouse."""

    def __init__(
        self,
        settings: DedupSettings,
        text_loader: TextLoader | None = None,
        cache_size: int = 20000,
        vectors: VectorIndex | None = None,
        lead_anchors: dict[str, np.ndarray] | None = None,
        entities: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.rule = StoryRule.from_settings(settings)
        self.copies = CopyFinder(settings, text_loader, cache_size)
        self.chunks = ChunkVectors(settings.vector_index_min_rows, vectors)
        self.story_side = StoryIndex(
            settings,
            self.rule,
            self.chunks,
            self.copies.root,
            text_loader,
            cache_size,
            lead_anchors,
            entities,
        )
        self.max_id = 0

    def __len__(self) -> int:
        return len(self.copies)

    @property
    def vectors(self) -> VectorIndex | None:
        """The chunk vectors of English articles (None until the first arrives)."""
        return self.chunks.index

    @property
    def leads(self) -> LeadBook:
        """The multilingual leads of originals."""
        return self.story_side.leads

    @property
    def stories(self) -> StoryBook:
        """Who belongs to which story."""
        return self.story_side.stories

    # -- building --------------------------------------------------------------------------

    def add(
        self, doc: DedupDoc, decision: DedupDecision, shingles: np.ndarray | None = None
    ) -> None:
        """Index a decided article so later ones are compared with it (its merges applied)."""
        if doc.id in self.copies:
            self.remove([doc.id])
        if shingles is None:
            shingles = self.copies.shingles(doc.text)
        self.copies.add(doc, decision.duplicate_of, shingles)
        self.chunks.add(doc)
        self.story_side.add(doc, decision)
        self.max_id = max(self.max_id, doc.id)

    def add_all(self, rows: Iterable[tuple[DedupDoc, DedupDecision]], block: int = 50000) -> int:
        """Index many decided articles (a load from the warehouse): as `add` for each, with the
        chunk vectors inserted `block` rows at a time (an HNSW graph inserts those in parallel)."""
        count = 0
        for doc, decision in rows:
            self.add(self.chunks.defer(doc), decision)
            count += 1
            if self.chunks.deferred_rows >= block:
                self.chunks.flush()
        self.chunks.flush()
        return count

    def english_ids(self) -> set[int]:
        """Articles whose chunk vectors belong in the vector index (English-like ones)."""
        return set(self.chunks.english)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget articles (a batch that could not be written, an edited seed)."""
        gone = {i for i in ids if i in self.copies}
        if not gone:
            return
        self.copies.remove(gone)
        self.chunks.remove(gone)
        self.story_side.remove(gone)

    def apply_story_marks(
        self, marks: Sequence[tuple[str, int, int]], copies: Mapping[int, Sequence[int]]
    ) -> None:
        """Analysts' story marks in force, in the order made: ('merge', story, other) folds the
        later story into the earlier; ('split', article, story) takes the article (with its
        `copies`) out of the story and keeps it apart from that story's members. Applying them
        again changes nothing."""
        book = self.stories
        for kind, a, b in marks:
            if kind == "merge":
                one, other = book.story(a), book.story(b)
                if one != other:
                    book.merge(max(one, other), min(one, other), 0)
            elif kind == "split":
                book.split(a, book.story(b), copies.get(a, ()))

    # -- deciding --------------------------------------------------------------------------

    def story_of(self, article_id: int) -> int:
        """The story an indexed article belongs to now (merges followed)."""
        return self.stories.story(article_id)

    def _floor(self) -> float:
        # The lowest chunk cosine any decision reads: copy candidates, story evidence, support.
        r = self.rule
        return min(
            self.settings.candidate_similarity, r.similarity, r.min_similarity, r.support_similarity
        )

    def _vector_matches(self, docs: Sequence[DedupDoc]) -> list[dict[int, float]]:
        """For each doc: best chunk cosine per stored article, above the lowest floor in use."""
        return self.chunks.matches(docs, self._floor())

    def likely_copies(self, docs: Sequence[DedupDoc]) -> set[int]:
        """Ids of the batch's articles that are copies by their text alone (the same text as a
        root, or a confirmed shingle overlap with a root stored or earlier in the batch): they
        need no vectors. A forecast made before embedding; `decide` settles each one."""
        return self.copies.likely_copies(docs)

    def decide(
        self, docs: Sequence[DedupDoc], complete: Callable[[DedupDoc], DedupDoc] | None = None
    ) -> list[DedupDecision]:
        """Decide a batch in order and index each article, so later ones see earlier ones; the
        story ids returned follow merges made by later articles of the batch.

        A doc without chunk vectors (a forecast copy) is decided by its text; if it turns out
        not to be a copy after all, `complete` gives it its vectors and it is decided in full.
        """
        docs = list(docs)
        vector_hits = self._vector_matches(docs)
        decisions = []
        for k, doc in enumerate(docs):
            shingles = self.copies.shingles(doc.text)
            if complete is not None and not doc.chunk_vectors.size:
                copy = self._text_copy(doc, shingles, {})
                if copy is not None:
                    self.add(doc, copy, shingles)
                    decisions.append(copy)
                    continue
                doc = docs[k] = complete(doc)
                vector_hits[k] = self._vector_matches([doc])[0]
            # Articles of this batch indexed a moment ago are not in the precomputed matches.
            hits = {**vector_hits[k], **self.chunks.batch_matches(doc, docs[:k])}
            decision = self._decide_one(doc, shingles, hits, self.story_side.headline_matches(doc))
            self.add(doc, decision, shingles)
            decisions.append(decision)
        return [
            d if d.story_id == self.story_of(doc.id) else replace(d, story_id=self.story_of(doc.id))
            for doc, d in zip(docs, decisions, strict=True)
        ]

    def check(self, doc: DedupDoc) -> DedupDecision:
        """Decide one article without indexing it."""
        return self._decide_one(
            doc,
            self.copies.shingles(doc.text),
            self._vector_matches([doc])[0],
            self.story_side.headline_matches(doc),
        )

    def _text_copy(
        self, doc: DedupDoc, shingles: np.ndarray, vector_hits: dict[int, float]
    ) -> DedupDecision | None:
        """Levels 2 and 3: the decision of a copy (it follows its root's story), or None."""
        found = self.copies.find(doc, shingles, vector_hits)
        if found is None:
            return None
        story = self.story_of(found.root)
        evidence = CopyEvidence(found.root, story, found.kind, found.similarity)
        return DedupDecision(found.root, found.similarity, found.kind, story, evidence)

    def _decide_one(
        self,
        doc: DedupDoc,
        shingles: np.ndarray,
        vector_hits: dict[int, float],
        headline_hits: dict[int, float],
    ) -> DedupDecision:
        copy = self._text_copy(doc, shingles, vector_hits)
        if copy is not None:
            return copy
        story = self.story_side.decide(doc, vector_hits, headline_hits)
        return DedupDecision(None, None, None, story.story_id, story.evidence, story.merged)
