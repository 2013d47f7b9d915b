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
     English, and unrelated texts in other languages score high (0.89 seen on Russian news).
   Each candidate is resolved to its root original (roots counted once; a root's text the index
   no longer holds comes from the text loader), and the new text's shingle overlap with the
   root's own text decides: Jaccard ≥ `jaccard_threshold` (a copy in different clothing), or
   containment ≥ `containment_threshold` in either direction (a copy cut short, or the story with
   another one appended). The best confirmed root wins. Two reports of the same event by
   different outlets share meaning but few 5-word shingles, so they are not merged.
4. story (pipeline/dedup/stories.py, fed with the vector hits found here): a new original joins the
   story of the stored articles within `story_window_days` whose evidence holds: best chunk
   cosine >= `story_similarity` (meaning alone), or best chunk cosine >= `story_min_similarity`
   completed by the rare words both texts use (best chunk + tf-idf cosine >=
   `story_combined_score`), or, for a short text (a teaser, a paywall), its headline matching the
   other text. Best chunk rather than whole-article vector: two reports of one event share at
   least one passage about it, while a long article's mean vector blurs into its subject
   (measured on the seeds: the Spacety pair 0.80 by best chunk but only 0.70 whole-article, below
   the 0.75 of two different events on the same subject; by best chunk, same-event pairs score
   0.73-0.85 and all other seed pairs at most 0.69, hence 0.72 for meaning alone; below it, the
   seeds' different events share only words common among stored articles). A story of three or
   more members needs two of them to agree, so one bridge article does not chain two events; an
   article that holds with two stories that already resemble each other merges them into the
   earlier one (`story_merges`), and `articles.story_id` always names the surviving story. Only
   English texts are compared by chunk vectors; a pair that is not both English is compared by
   the multilingual title + lead vectors when that model is on (the `lead` rule,
   pipeline/dedup/crosslingual.py), else only as copies.

A duplicate points at a root original (the earliest, possibly a seed) that it confirmably overlaps,
and takes its story; `duplicate_similarity` and `duplicate_kind` describe the overlap with that
root. Confirming against the candidate instead would not do: a roundup carrying stories A and B is
stored as a copy of A, and a later copy of B, contained in the roundup, shares no text with A. An
article confirmed only against candidates that are not roots is an original (precision first); it
may still join a story by meaning. `overlap.check_overlaps` recomputes this invariant over
stored duplicates (`newswatch dedup --verify`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.config.settings import DedupSettings
from pipeline.dedup.crosslingual import LeadBook, base_lang
from pipeline.dedup.overlap import confirm, overlap, shingle_hashes
from pipeline.dedup.stories import (
    SUPPORT_SIMILARITY,
    Hit,
    StoryBook,
    StoryRule,
    TermCache,
    Terms,
    decide_story,
    is_short,
    terms_of,
)
from pipeline.dedup.vectorindex import VectorIndex
from pipeline.models import DedupDecision, DedupDoc
from pipeline.textnorm import is_english_like

log = logging.getLogger(__name__)

#: Lead cosines kept as evidence (shown by `explain` as the nearest link) from this value up.
SUPPORT_LEAD_FLOOR = 0.2


TextLoader = Callable[[Sequence[int]], dict[int, str]]


def _low32(value: bytes) -> int:
    # Shingle hashes are already uniform 64-bit values: MinHash needs no second hash of them.
    return int.from_bytes(value[:4], "little")


def lead_lang(doc: DedupDoc) -> str:
    """The language an article's lead is counted in: 'en' for what the English model reads,
    else its declared language ('' when unknown)."""
    return "en" if is_english_like(doc.lang, doc.text) else base_lang(doc.lang)


class DedupIndex:
    """Everything stored so far, held in memory between cycles and rebuilt from the warehouse."""

    def __init__(
        self,
        settings: DedupSettings,
        text_loader: TextLoader | None = None,
        cache_size: int = 20000,
        vectors: VectorIndex | None = None,
        lead_anchors: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.settings = settings
        self.rule = StoryRule.from_settings(settings)
        self._load_texts = text_loader
        self._cache_size = cache_size
        self._lsh = MinHashLSH(threshold=settings.lsh_threshold, num_perm=settings.num_perm)
        self._perm_seed = 1
        self._template = MinHash(num_perm=settings.num_perm, seed=self._perm_seed)
        self._by_hash: dict[str, int] = {}
        self._meta: dict[int, tuple[float, bool, int | None]] = {}  # ts, english, root
        self._shingles: OrderedDict[int, np.ndarray] = OrderedDict()
        self._pinned: dict[int, np.ndarray] = {}  # seeds: always in memory
        # Chunk vectors of English articles; a persisted index may arrive already filled.
        self.vectors = vectors
        self._titles: VectorIndex | None = None  # headlines of short English texts
        self._short: set[int] = set()
        self.stories = StoryBook()
        self._terms = TermCache(text_loader, cache_size)
        self._pinned_terms: dict[int, Terms] = {}
        self._pending: set[int] = set()  # add_all: chunk vectors not inserted yet
        self.leads = LeadBook(lead_anchors)  # multilingual leads of originals
        self.max_id = 0

    def __len__(self) -> int:
        return len(self._meta)

    # -- building --------------------------------------------------------------------------

    def _minhash(self, shingles: np.ndarray) -> MinHash:
        # Reusing the permutations spares regenerating them for every document.
        m = MinHash(
            num_perm=self.settings.num_perm,
            seed=self._perm_seed,
            hashfunc=_low32,
            permutations=self._template.permutations,
            scheme=self._template.scheme,
        )
        if shingles.size:
            m.update_batch([s.tobytes() for s in shingles])
        return m

    def add(
        self, doc: DedupDoc, decision: DedupDecision, shingles: np.ndarray | None = None
    ) -> None:
        """Index a decided article so later ones are compared with it (its merges applied)."""
        if doc.id in self._meta:
            self.remove([doc.id])
        if shingles is None:
            shingles = shingle_hashes(doc.text, self.settings.shingle_size)
        self._by_hash.setdefault(doc.content_hash, doc.id)
        english = is_english_like(doc.lang, doc.text)
        self._meta[doc.id] = (doc.published_at.timestamp(), english, decision.duplicate_of)
        if doc.is_seed:
            self._pinned[doc.id] = shingles
        else:
            self._remember(doc.id, shingles)
        self._lsh.insert(doc.id, self._minhash(shingles), check_duplication=False)
        if english and doc.chunk_vectors.size:
            self._add_vectors(doc.id, np.asarray(doc.chunk_vectors, dtype=np.float32))
        if english and (doc.chunk_vectors.size or self._holds(doc.id)):
            if is_short(doc.text, self.rule) and doc.title_vector is not None:
                self._short.add(doc.id)
                title = np.asarray(doc.title_vector, np.float32)[None, :]
                if self._titles is None or self._titles.dim != title.shape[1]:
                    self._titles = VectorIndex(
                        title.shape[1], exact_below=self.settings.vector_index_min_rows
                    )
                self._titles.add(doc.id, title)
        terms = terms_of(doc.text)
        self.stories.terms.add(terms)
        self._terms.put(doc.id, doc.text, terms)
        if doc.is_seed:
            self._pinned_terms[doc.id] = terms
        if decision.duplicate_of is None and doc.lead_vector is not None:
            self.leads.add(doc.id, lead_lang(doc), doc.published_at.timestamp(), doc.lead_vector)
        for story in decision.merged_stories:
            self.stories.merge(story, decision.story_id, doc.id)
        self.stories.add(doc.id, decision.story_id, original=decision.duplicate_of is None)
        self.max_id = max(self.max_id, doc.id)

    def add_all(self, rows: Iterable[tuple[DedupDoc, DedupDecision]], block: int = 50000) -> int:
        """Index many decided articles (a load from the warehouse): as `add` for each, with the
        chunk vectors inserted `block` rows at a time (an HNSW graph inserts those in parallel)."""
        pending: list[tuple[int, np.ndarray]] = []
        count = rows_pending = 0
        for doc, decision in rows:
            chunks = doc.chunk_vectors
            if chunks.size and is_english_like(doc.lang, doc.text):
                pending.append((doc.id, np.asarray(chunks, dtype=np.float32)))
                rows_pending += chunks.shape[0]
                self._pending.add(doc.id)
            self.add(replace(doc, chunk_vectors=chunks[:0]), decision)
            count += 1
            if rows_pending >= block:
                self._add_vectors_many(pending)
                pending, rows_pending = [], 0
        self._add_vectors_many(pending)
        return count

    def _add_vectors_many(self, pending: list[tuple[int, np.ndarray]]) -> None:
        start = 0
        while start < len(pending):
            dim = pending[start][1].shape[1]
            end = start + 1
            while end < len(pending) and pending[end][1].shape[1] == dim:
                end += 1
            self._add_vectors(*pending[start])  # makes the index, or a new one for a new model
            rest = pending[start + 1 : end]
            if rest:
                assert self.vectors is not None
                self.vectors.add_many(
                    np.array([i for i, _ in rest]),
                    np.array([c.shape[0] for _, c in rest]),
                    np.vstack([c for _, c in rest]),
                )
            start = end
        self._pending.clear()

    def _holds(self, article_id: int) -> bool:
        # Chunk vectors already indexed (a persisted index) or about to be (add_all).
        return article_id in self._pending or (
            self.vectors is not None and self.vectors.holds(article_id)
        )

    def _add_vectors(self, article_id: int, chunks: np.ndarray) -> None:
        dim = chunks.shape[1]
        if self.vectors is None or self.vectors.dim != dim:
            if self.vectors is not None and self.vectors.size:
                # Vectors of another model cannot be compared with these: keep the newer model.
                log.warning(
                    "chunk vectors change dimension (%d → %d); earlier ones are dropped "
                    "from the near-duplicate index",
                    self.vectors.dim,
                    dim,
                )
            self.vectors = VectorIndex(dim, exact_below=self.settings.vector_index_min_rows)
        self.vectors.add(article_id, chunks)

    def english_ids(self) -> set[int]:
        """Articles whose chunk vectors belong in the vector index (English-like ones)."""
        return {i for i, meta in self._meta.items() if meta[1]}

    def remove(self, ids: Iterable[int]) -> None:
        """Forget articles (a batch that could not be written, an edited seed)."""
        gone = {i for i in ids if i in self._meta}
        if not gone:
            return
        for key in [k for k, v in self._by_hash.items() if v in gone]:
            del self._by_hash[key]
        known = self._terms.cached(gone)
        for i in gone:
            self._meta.pop(i, None)
            self._shingles.pop(i, None)
            self._pinned.pop(i, None)
            self._short.discard(i)
            terms = self._pinned_terms.pop(i, None) or known.get(i)
            if terms is not None:  # words evicted from memory stay counted: a slight overcount
                self.stories.terms.remove(terms)
            if i in self._lsh:
                self._lsh.remove(i)
        self._terms.drop(gone)
        self.leads.remove(gone)
        for index in (self.vectors, self._titles):
            if index is not None:
                index.remove(gone)
        self.stories.remove(gone)

    def _remember(self, article_id: int, shingles: np.ndarray) -> None:
        self._shingles[article_id] = shingles
        self._shingles.move_to_end(article_id)
        while len(self._shingles) > self._cache_size:
            self._shingles.popitem(last=False)

    def _shingles_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        missing = []
        for i in ids:
            if i in self._pinned:
                out[i] = self._pinned[i]
            elif i in self._shingles:
                out[i] = self._shingles[i]
                self._shingles.move_to_end(i)
            else:
                missing.append(i)
        if missing and self._load_texts is not None:
            for i, text in self._load_texts(missing).items():
                out[i] = shingle_hashes(text, self.settings.shingle_size)
                self._remember(i, out[i])
        return out

    # -- deciding --------------------------------------------------------------------------

    def _root(self, article_id: int) -> int:
        # Duplicates point at roots, but a warehouse edited by hand may hold a chain (or a loop).
        seen = {article_id}
        meta = self._meta.get(article_id)
        while meta is not None and meta[2] is not None and meta[2] not in seen:
            article_id = meta[2]
            seen.add(article_id)
            meta = self._meta.get(article_id)
        return article_id

    def story_of(self, article_id: int) -> int:
        """The story an indexed article belongs to now (merges followed)."""
        return self.stories.story(article_id)

    def _floor(self) -> float:
        s = self.settings
        return min(
            s.candidate_similarity, s.story_similarity, s.story_min_similarity, SUPPORT_SIMILARITY
        )

    def _vector_matches(self, docs: Sequence[DedupDoc]) -> list[dict[int, float]]:
        """For each doc: best chunk cosine per stored article, above the lowest floor in use."""
        floor = self._floor()
        out: list[dict[int, float]] = [{} for _ in docs]
        blocks = [
            (k, d)
            for k, d in enumerate(docs)
            if d.chunk_vectors.size and is_english_like(d.lang, d.text)
        ]
        if not blocks or self.vectors is None or self.vectors.size == 0:
            return out
        queries = np.vstack([np.asarray(d.chunk_vectors, dtype=np.float32) for _, d in blocks])
        doc_of_row = np.repeat(
            [k for k, _ in blocks], [d.chunk_vectors.shape[0] for _, d in blocks]
        )
        q_rows, owners, sims = self.vectors.search(queries, floor)
        for doc_k, owner, value in zip(
            doc_of_row[q_rows].tolist(), owners.tolist(), sims.tolist(), strict=True
        ):
            if value > out[doc_k].get(owner, -1.0):
                out[doc_k][owner] = value
        return out

    def _headline_matches(self, doc: DedupDoc) -> dict[int, float]:
        """Headline evidence with stored articles: this short text's headline against their
        chunks, and the headlines of stored short texts against this text's chunks."""
        if not doc.chunk_vectors.size or not is_english_like(doc.lang, doc.text):
            return {}
        floor = min(self.settings.story_headline_similarity, SUPPORT_SIMILARITY)
        out = (
            {}
            if self._titles is None
            else self._titles.best_per_owner(np.asarray(doc.chunk_vectors, np.float32), floor)
        )
        if (
            doc.title_vector is not None
            and is_short(doc.text, self.rule)
            and self.vectors is not None
        ):
            mine = self.vectors.best_per_owner(
                np.asarray(doc.title_vector, np.float32)[None, :], floor
            )
            for owner, value in mine.items():
                out[owner] = max(value, out.get(owner, -1.0))
        return out

    def likely_copies(self, docs: Sequence[DedupDoc]) -> set[int]:
        """Ids of the batch's articles that are copies by their text alone (the same text as a
        root, or a confirmed shingle overlap with a root stored or earlier in the batch): they
        need no vectors. A forecast made before embedding; `decide` settles each one."""
        local = MinHashLSH(threshold=self.settings.lsh_threshold, num_perm=self.settings.num_perm)
        local_hash: dict[str, int] = {}
        local_shingles: dict[int, np.ndarray] = {}
        out: set[int] = set()
        for doc in docs:
            shingles = shingle_hashes(doc.text, self.settings.shingle_size)
            if self._text_copy(doc, shingles, {}) is not None:
                out.add(doc.id)
                continue
            if doc.content_hash in local_hash:
                out.add(doc.id)
                continue
            sketch = self._minhash(shingles)
            if any(
                confirm(
                    overlap(shingles, local_shingles[c]),
                    shingles.size,
                    local_shingles[c].size,
                    self.settings,
                )
                for c in local.query(sketch)
            ):
                out.add(doc.id)
                continue
            # Only originals of the batch are compared with later ones: a copy's root is stored.
            local_hash[doc.content_hash] = doc.id
            local_shingles[doc.id] = shingles
            local.insert(doc.id, sketch, check_duplication=False)
        return out

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
            shingles = shingle_hashes(doc.text, self.settings.shingle_size)
            if complete is not None and not doc.chunk_vectors.size:
                copy = self._text_copy(doc, shingles, {})
                if copy is not None:
                    self.add(doc, copy, shingles)
                    decisions.append(copy)
                    continue
                doc = docs[k] = complete(doc)
                vector_hits[k] = self._vector_matches([doc])[0]
            # Articles of this batch indexed a moment ago are not in the precomputed matrix.
            extra = {}
            for prior in docs[:k]:
                if (
                    prior.id in self._meta
                    and prior.chunk_vectors.size
                    and doc.chunk_vectors.size
                    and prior.chunk_vectors.shape[1] == doc.chunk_vectors.shape[1]
                    and self._meta[prior.id][1]
                    and is_english_like(doc.lang, doc.text)
                ):
                    extra[prior.id] = float((prior.chunk_vectors @ doc.chunk_vectors.T).max())
            hits = {**vector_hits[k], **extra}
            decision = self._decide_one(doc, shingles, hits, self._headline_matches(doc))
            self.add(doc, decision, shingles)
            decisions.append(decision)
        return [
            d if d.story_id == self.story_of(doc.id) else replace(d, story_id=self.story_of(doc.id))
            for doc, d in zip(docs, decisions, strict=True)
        ]

    def check(self, doc: DedupDoc) -> DedupDecision:
        """Decide one article without indexing it."""
        shingles = shingle_hashes(doc.text, self.settings.shingle_size)
        return self._decide_one(
            doc, shingles, self._vector_matches([doc])[0], self._headline_matches(doc)
        )

    def _text_copy(
        self, doc: DedupDoc, shingles: np.ndarray, vector_hits: dict[int, float]
    ) -> DedupDecision | None:
        """Levels 2 and 3: the root this text copies, or None (an original)."""
        original = self._by_hash.get(doc.content_hash)
        if original == doc.id or original not in self._meta:
            original = None
        if original is not None and self._root(original) == original:
            # The same normalised text as a root: the closest overlap there is.
            return self._copy(original, 1.0, "hash")
        candidates = set(self._lsh.query(self._minhash(shingles)))
        candidates |= {c for c, v in vector_hits.items() if v >= self.settings.candidate_similarity}
        if original is not None:
            # A copy of a stored duplicate is a copy of its root only if it overlaps the root too.
            candidates.add(original)
        best = self._best_root(doc.id, shingles, candidates)
        if best is None:
            return None
        root, (kind, similarity) = best
        return self._copy(root, round(similarity, 4), kind)

    def _decide_one(
        self,
        doc: DedupDoc,
        shingles: np.ndarray,
        vector_hits: dict[int, float],
        headline_hits: dict[int, float] | None = None,
    ) -> DedupDecision:
        copy = self._text_copy(doc, shingles, vector_hits)
        if copy is not None:
            return copy
        story = self._story_of_new(doc, vector_hits, headline_hits or {})
        return DedupDecision(None, None, None, story.story_id, story.evidence, story.merged)

    def _copy(self, root: int, similarity: float, kind: str) -> DedupDecision:
        story = self.story_of(root)
        return DedupDecision(
            root,
            similarity,
            kind,
            story,
            {"rule": "copy", "of": root, "story": story, "kind": kind, "similarity": similarity},
        )

    def _best_root(
        self, doc_id: int, shingles: np.ndarray, candidates: set[int]
    ) -> tuple[int, tuple[str, float]] | None:
        """The root original, among the candidates' roots, that the new text overlaps most.

        A candidate that is itself a duplicate only leads to its root: a roundup stored as a copy
        of story A also contains story B, and a later copy of B must not be filed under A. A
        root whose text is not at hand (neither in memory nor loadable) cannot be confirmed.
        """
        roots = {self._root(c) for c in candidates if c != doc_id} - {doc_id}
        best: tuple[int, tuple[str, float]] | None = None
        for root, old in sorted(self._shingles_of(sorted(roots)).items()):
            verdict = confirm(overlap(shingles, old), shingles.size, old.size, self.settings)
            if verdict and (best is None or verdict[1] > best[1][1]):
                best = (root, verdict)
        return best

    def _story_of_new(
        self, doc: DedupDoc, vector_hits: dict[int, float], headline_hits: dict[int, float]
    ):
        """The story decision (pipeline/dedup/stories.py) over the hits within the story window; a
        copy's hits count as its root's, so copies neither add support nor a story."""
        window = self.settings.story_window_days * 86400
        when = doc.published_at.timestamp()
        hits: dict[int, Hit] = {}
        for cand in set(vector_hits) | set(headline_hits):
            root = self._root(cand)
            meta = self._meta.get(root)
            if root == doc.id or meta is None or abs(meta[0] - when) > window:
                continue
            old = hits.get(root, Hit())
            hits[root] = Hit(
                max(old.meaning, vector_hits.get(cand, 0.0)),
                max(old.headline, headline_hits.get(cand, 0.0)),
            )
        if doc.lead_vector is not None:
            for cand, value in self.leads.matches(
                doc.lead_vector, lead_lang(doc), when, window, SUPPORT_LEAD_FLOOR, exclude=doc.id
            ).items():
                root = self._root(cand)
                if root == doc.id or root not in self._meta:
                    continue
                old = hits.get(root, Hit())
                hits[root] = replace(old, lead=max(old.lead, value))
        return decide_story(
            doc.id,
            doc.text,
            terms_of(doc.text),
            is_short(doc.text, self.rule),
            hits,
            self.stories,
            self._terms,
            self.rule,
            self._short,
            self._stories_close,
            self._leads_close,
        )

    def _leads_close(self, a: list[int], b: list[int], most: int = 20) -> float:
        """Best lead similarity across languages between some members of two stories."""
        return self.leads.closest_between(a[-most:], b[-most:])

    def _stories_close(self, a: list[int], b: list[int], most: int = 20) -> float:
        """Best chunk cosine between some members of two stories (the latest `most` of each)."""
        if self.vectors is None:
            return 0.0
        left, right = self.vectors.vectors_of(a[-most:]), self.vectors.vectors_of(b[-most:])
        if not left.size or not right.size:
            return 0.0
        return float((left @ right.T).max())
