"""The story side of the dedup index: what the story decision of a new original is made from
(pipeline/dedup/stories.py decides), held between cycles.

It keeps who belongs to which story (`StoryBook`), every article's words and their statistics
(pipeline/dedup/words.py) and the statistics of what survives translation
(pipeline/dedup/specifics.py), the headlines of short English texts (teasers, paywalls), the
multilingual leads of originals (pipeline/dedup/crosslingual.py) and when each article was
published (links hold only within `story_window_days`). The chunk vectors it compares are the
ones copy detection uses too (pipeline/dedup/chunks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import numpy as np

from pipeline.config.settings import DedupSettings
from pipeline.dedup.chunks import ChunkVectors
from pipeline.dedup.copies import TextLoader
from pipeline.dedup.crosslingual import LeadBook, base_lang
from pipeline.dedup.stories import (
    Hit,
    Link,
    StoryDecision,
    StoryRule,
    decide_story,
    is_short,
    link_rule,
    unlike,
)
from pipeline.dedup.storybook import StoryBook
from pipeline.dedup.vectorindex import VectorIndex
from pipeline.dedup.words import TermCache, Terms, terms_of
from pipeline.models import DedupDecision, DedupDoc
from pipeline.textnorm import is_english_like

#: Members of each story compared when two stories' closeness decides a merge (the latest ones).
MERGE_MEMBERS = 20


def lead_lang(doc: DedupDoc) -> str:
    """The language an article's lead is counted in: 'en' for what the English model reads,
    else its declared language ('' when unknown)."""
    return "en" if is_english_like(doc.lang, doc.text) else base_lang(doc.lang)


class StoryIndex:
    """Stories, words, short texts' headlines, leads and publication times of indexed articles."""

    def __init__(
        self,
        settings: DedupSettings,
        rule: StoryRule,
        chunks: ChunkVectors,
        root: Callable[[int], int],
        text_loader: TextLoader | None,
        cache_size: int,
        lead_anchors: Mapping[str, np.ndarray] | None = None,
        entities: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.rule = rule
        self._chunks = chunks
        self._root = root
        self._published: dict[int, float] = {}
        self._titles: VectorIndex | None = None  # headlines of short English texts
        self._short: set[int] = set()
        self.stories = StoryBook()
        self.stories.specifics.entities = entities
        self._terms = TermCache(text_loader, cache_size)
        self._pinned_terms: dict[int, Terms] = {}
        self._pinned_specifics: dict[int, frozenset[str]] = {}
        self.leads = LeadBook(lead_anchors)  # multilingual leads of originals

    def add(self, doc: DedupDoc, decision: DedupDecision) -> None:
        """Index a decided article (its chunk vectors already in `chunks`), its merges applied."""
        self._published[doc.id] = doc.published_at.timestamp()
        if (
            doc.id in self._chunks.english  # noted there first (DedupIndex.add)
            and (doc.chunk_vectors.size or self._chunks.holds(doc.id))
            and is_short(doc.text, self.rule)
            and doc.title_vector is not None
        ):
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
        specifics = self.stories.specifics.of(doc.text)
        self.stories.specifics.add(specifics)
        if doc.is_seed:
            self._pinned_terms[doc.id] = terms
            self._pinned_specifics[doc.id] = specifics
        if decision.duplicate_of is None and doc.lead_vector is not None:
            self.leads.add(doc.id, lead_lang(doc), doc.published_at.timestamp(), doc.lead_vector)
        for story in decision.merged_stories:
            self.stories.merge(story, decision.story_id, doc.id)
        self.stories.add(doc.id, decision.story_id, original=decision.duplicate_of is None)

    def remove(self, gone: set[int]) -> None:
        """Forget articles, undoing the merges they made."""
        known = self._terms.cached(gone)
        texts = self._terms.cached_texts(gone)
        for i in gone:
            self._published.pop(i, None)
            self._short.discard(i)
            terms = self._pinned_terms.pop(i, None) or known.get(i)
            if terms is not None:  # words evicted from memory stay counted: a slight overcount
                self.stories.terms.remove(terms)
            specifics = self._pinned_specifics.pop(i, None)
            if specifics is None and i in texts:
                specifics = self.stories.specifics.of(texts[i])
            if specifics is not None:  # as words: evicted ones stay counted
                self.stories.specifics.add(specifics, sign=-1)
        self._terms.drop(gone)
        self.leads.remove(gone)
        if self._titles is not None:
            self._titles.remove(gone)
        self.stories.remove(gone)

    def headline_matches(self, doc: DedupDoc) -> dict[int, float]:
        """Headline evidence with stored articles: this short text's headline against their
        chunks, and the headlines of stored short texts against this text's chunks."""
        if not doc.chunk_vectors.size or not is_english_like(doc.lang, doc.text):
            return {}
        floor = min(self.rule.headline_similarity, self.rule.support_similarity)
        out = (
            {}
            if self._titles is None
            else self._titles.best_per_owner(np.asarray(doc.chunk_vectors, np.float32), floor)
        )
        vectors = self._chunks.index
        if doc.title_vector is not None and is_short(doc.text, self.rule) and vectors is not None:
            mine = vectors.best_per_owner(np.asarray(doc.title_vector, np.float32)[None, :], floor)
            for owner, value in mine.items():
                out[owner] = max(value, out.get(owner, -1.0))
        return out

    def hits(
        self, doc: DedupDoc, vector_hits: Mapping[int, float], headline_hits: Mapping[int, float]
    ) -> dict[int, Hit]:
        """The evidence of every root original within the story window: a copy's hits count
        as its root's, so copies neither add support nor a story."""
        window = self.settings.story_window_days * 86400
        when = doc.published_at.timestamp()
        hits: dict[int, Hit] = {}
        for cand in set(vector_hits) | set(headline_hits):
            root = self._root(cand)
            published = self._published.get(root)
            if root == doc.id or published is None or abs(published - when) > window:
                continue
            old = hits.get(root, Hit())
            hits[root] = Hit(
                max(old.meaning, vector_hits.get(cand, 0.0)),
                max(old.headline, headline_hits.get(cand, 0.0)),
            )
        if doc.lead_vector is not None:
            floor = min(self.settings.story_lead_evidence_floor, self.rule.lead_min_similarity)
            for cand, value in self.leads.matches(
                doc.lead_vector, lead_lang(doc), when, window, floor, exclude=doc.id
            ).items():
                root = self._root(cand)
                if root == doc.id or root not in self._published:
                    continue
                old = hits.get(root, Hit())
                hits[root] = replace(old, lead=max(old.lead, value))
            self._with_specifics(doc, hits)
            self._with_english_leads(doc, hits)
        return hits

    def _with_english_leads(self, doc: DedupDoc, hits: dict[int, Hit]) -> None:
        """The lead cosine of two English texts, where the English model's best chunk reaches
        `story_min_similarity` (the `meaning+lead` rule and whether a member is unlike the new
        article, where it is close but not conclusive; above, how an English link ranks against
        one across languages; computed for those hits alone)."""
        wanted_by_rules = self.rule.english_lead < 1.0 or self.rule.unlike_lead > -1.0
        if not wanted_by_rules or lead_lang(doc) != "en" or doc.lead_vector is None:
            return
        wanted = [m for m, h in hits.items() if h.meaning >= self.rule.min_similarity]
        if not wanted:
            return
        for member, value in self.leads.english_similarities(doc.lead_vector, wanted).items():
            hits[member] = replace(hits[member], english_lead=value)

    def _with_specifics(self, doc: DedupDoc, hits: dict[int, Hit]) -> None:
        """The specifics both texts give, for the hits whose lead cosine they could complete."""
        wanted = [
            m
            for m, h in hits.items()
            if h.lead and self.rule.lead_min_similarity <= h.lead < self.rule.lead_similarity
        ]
        if not wanted:
            return
        stats = self.stories.specifics
        mine = stats.of(doc.text)
        for member, (text, _) in self._terms.get(wanted).items():
            hits[member] = replace(hits[member], specifics=stats.overlap(mine, stats.of(text)))

    def decide(
        self, doc: DedupDoc, vector_hits: Mapping[int, float], headline_hits: Mapping[int, float]
    ) -> StoryDecision:
        """The story decision (pipeline/dedup/stories.py) of a new original over its hits."""
        return decide_story(
            doc.id,
            doc.text,
            terms_of(doc.text),
            is_short(doc.text, self.rule),
            self.hits(doc, vector_hits, headline_hits),
            self.stories,
            self._terms,
            self.rule,
            self._short,
            self.stories_close,
            self.leads_close,
            self._window_of(doc),
            self.members_agree,
            self.stories_unlike,
        )

    def _window_of(self, doc: DedupDoc) -> Callable[[int], bool]:
        """Whether a stored article was published within the story window of `doc`."""
        window = self.settings.story_window_days * 86400
        when = doc.published_at.timestamp()

        def within(article_id: int) -> bool:
            published = self._published.get(article_id)
            return published is not None and abs(published - when) <= window

        return within

    def stories_close(self, a: list[int], b: list[int]) -> float:
        """Best chunk cosine between some members of two stories (the latest of each)."""
        return self._chunks.closest_between(a[-MERGE_MEMBERS:], b[-MERGE_MEMBERS:])

    def members_agree(self, a: int, b: int) -> bool:
        """Whether two stored articles agree as a member agrees with a new report: best chunk
        cosine >= `story_support_similarity`, or across languages a lead cosine within
        `story_lead_support_gap` of the lead rule's threshold."""
        return (
            self._chunks.closest_between([a], [b]) >= self.rule.support_similarity
            or self.leads.closest_between([a], [b]) >= self.rule.lead_support
        )

    def stories_unlike(self, a: list[int], b: list[int]) -> bool:
        """Whether a member of one story is unlike a member of the other (the latest of each),
        as a member is unlike a new article: English, best chunk close but no rule holding,
        centered leads below `story_unlike_lead`."""
        if self.rule.unlike_lead <= -1.0:
            return False
        english = self._chunks.english
        close = {
            pair: meaning
            for pair, meaning in self._chunks.best_per_pair(
                [i for i in a[-MERGE_MEMBERS:] if i in english],
                [j for j in b[-MERGE_MEMBERS:] if j in english],
            ).items()
            if self.rule.close_not_conclusive(meaning)
        }
        if not close:
            return False
        known = self._terms.get(list({i for pair in close for i in pair}))
        for (i, j), meaning in close.items():
            lead = self.leads.english_pair(i, j)
            if lead is None or i not in known or j not in known:
                continue  # no reading of one opening: nothing says they differ
            words = self.stories.terms.cosine(known[i][1], known[j][1])
            # Headlines are left out: two stored texts are not compared by them.
            holds = link_rule(meaning, 0.0, words, False, self.rule, english_lead=lead)
            if unlike(Link(i, meaning, 0.0, words, False, holds, english_lead=lead), self.rule):
                return True
        return False

    def leads_close(self, a: list[int], b: list[int]) -> float:
        """Best lead similarity across languages between some members of two stories."""
        return self.leads.closest_between(a[-MERGE_MEMBERS:], b[-MERGE_MEMBERS:])
