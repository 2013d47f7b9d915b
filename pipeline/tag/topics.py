"""Topic tagging and relevance, defined in config/topics.toml (the code knows no topic by name).

Each topic scores an article on two kinds of evidence:

- meaning: every chunk of the article (the whole text, not only the model's first window) is
  compared with the topic's description and exemplar passages; the article's semantic score is
  the mean of its two best chunk similarities, rescaled between the topic's `sim_floor` (what
  unrelated news reaches) and `sim_ceiling` (a clear match);
- words: whole-word, case-insensitive matches of the topic's weighted keywords and phrases,
  inflections included (sanction, sanctions, sanctioned, sanctioning; spy, spies, spied), summed
  over distinct terms less the weights of `negative` terms found (fiction, films, museums for
  espionage), and saturated (1 - e^(-weight sum)). Terms under `context` must also
  occur (any one of them) for the keywords to count: "satellite" alone is a weather satellite,
  "satellite" near "military" or "war" is the topic.

    score = semantic_weight * meaning + (1 - semantic_weight) * words

A topic is given when score ≥ threshold, its context holds, and either its keyword matches weigh
at least `min_keyword_weight` or the meaning alone reaches `meaning_alone` (a paraphrase that
avoids the vocabulary: "freezing the assets of a shipping magnate" is sanctions news). A topic
that sets none of these keys takes the [topics] default_* settings. Each tag keeps its evidence:
matched terms, the best passage (≤ 300 characters) and both parts of the score.

An article the English model cannot read (pipeline.textnorm.is_english_like says no) takes its
meaning from its multilingual title + lead vector instead (pipeline/embed/multilingual.py, when on):
the best cosine to the topic's description and exemplars embedded by the same model, rescaled
between `[topics] lead_sim_floor` and `lead_sim_ceiling`. Its words are the topic's keywords in
any language the file lists them in (a term in Chinese or Japanese matches anywhere, those
scripts put no spaces between words; `санкци*` matches every Russian form). Each tag's evidence
says which vectors gave the meaning (`meaning_from`).

The topics file is read by pipeline/tag/topics_file.py, the rule's parts (terms matched, the
keyword score, the passage) are pipeline/tag/topic_rule.py's; this module scores and tags, and
every name of the three is importable from here.

Relevance is the article's similarity to the seed corpus: the mean of its two best chunk-to-seed
chunk similarities (1.0 for a seed itself). An article with no topic and relevance below
`[topics] min_relevance` is off-topic: stored, but left out of the analyst views and the digest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config.settings import TopicsSettings
from pipeline.dedup.crosslingual import lead_of
from pipeline.models import Embedding, TagResult, TopicTag
from pipeline.tag.learned import Example, LearnedModel, hashed_words, probability
from pipeline.tag.learned import example as learned_example
from pipeline.tag.topic_rule import (
    PASSAGE_CHARS,
    LexicalMatch,
    TopicReading,
    keyword_score,
    match_terms,
    passage,
    top_mean,
)
from pipeline.tag.topics_file import Term, Topic, load_topics, term_pattern
from pipeline.textnorm import is_english_like

if TYPE_CHECKING:
    from pipeline.embed.english import Embedder
    from pipeline.embed.multilingual import LeadEmbedder

__all__ = [
    "PASSAGE_CHARS",
    "LexicalMatch",
    "Tagger",
    "Term",
    "Topic",
    "TopicReading",
    "build_tagger",
    "learned_evidence",
    "load_topics",
    "match_terms",
    "term_pattern",
    "top_mean",
]


@dataclass
class Tagger:
    """Scores articles against the configured topics and the seed corpus."""

    topics: tuple[Topic, ...]
    prototypes: dict[str, np.ndarray]  # topic slug -> unit vectors (description, exemplars)
    seed_chunks: np.ndarray
    min_relevance: float
    lead_floor: float  # [topics] lead_sim_floor
    lead_ceiling: float  # [topics] lead_sim_ceiling
    _cache: dict = field(default_factory=dict, repr=False)
    #: topic slug -> multilingual unit vectors of description and exemplars (empty: off)
    lead_prototypes: dict[str, np.ndarray] = field(default_factory=dict)
    #: topic slug -> the current version of its learned part (topics with marks); it decides
    #: instead of the rule (pipeline/tag/learned.py)
    learned: dict[str, LearnedModel] = field(default_factory=dict)
    #: the theme's learned part (off-theme marks): lowers the relevance of articles like them
    theme: LearnedModel | None = None

    def reads_lead(self, embedding: Embedding, text: str, lang: str | None) -> bool:
        """Whether an article's meaning comes from its multilingual lead vector: the English
        model cannot read it, and the lead vector and the topics' multilingual vectors exist."""
        return (
            bool(self.lead_prototypes)
            and embedding.lead_vector is not None
            and not is_english_like(lang, text)
        )

    def relevance(self, embedding: Embedding) -> float:
        """Similarity to the seed corpus, 0..1."""
        if self.seed_chunks.size == 0:
            return 0.0
        chunks = np.stack([c.vector for c in embedding.chunks])
        if chunks.shape[1] != self.seed_chunks.shape[1]:
            return 0.0
        best = (chunks @ self.seed_chunks.T).max(axis=1)
        return float(np.clip(top_mean(best), 0.0, 1.0))

    def score(
        self,
        topic: Topic,
        text: str,
        embedding: Embedding,
        title: str = "",
        lang: str | None = None,
    ) -> TopicReading:
        """One topic's score and its parts; an article in another language than English is read
        by its lead vector (per-chunk similarity empty)."""
        by_lead = self.reads_lead(embedding, text, lang)
        if by_lead:
            per_chunk: np.ndarray = np.zeros(0, np.float32)
            raw = float((self.lead_prototypes[topic.slug] @ embedding.lead_vector).max())
            floor, ceiling = self.lead_floor, self.lead_ceiling
        else:
            chunks = np.stack([c.vector for c in embedding.chunks])
            protos = self.prototypes[topic.slug]
            per_chunk = (
                (chunks @ protos.T).max(axis=1)
                if protos.shape[1] == chunks.shape[1]
                else np.zeros(len(embedding.chunks))
            )
            raw = top_mean(per_chunk)
            floor, ceiling = topic.sim_floor, topic.sim_ceiling
        meaning = float(np.clip((raw - floor) / (ceiling - floor), 0.0, 1.0))
        lexical = match_terms(topic, f"{title}\n{text}")
        words = keyword_score(lexical)
        score = topic.semantic_weight * meaning + (1 - topic.semantic_weight) * words
        return TopicReading(score, meaning, lexical, per_chunk, raw, by_lead)

    @staticmethod
    def qualifies(topic: Topic, score: float, meaning: float, lexical: LexicalMatch) -> bool:
        """The tagging rule: enough score, the topic's context, and either enough vocabulary
        or a meaning so close to the topic that a paraphrase needs no keyword."""
        if score < topic.threshold or not lexical.context:
            return False
        if not topic.keywords:
            return not lexical.negative  # a topic of one sentence: its meaning decides
        vocabulary = bool(lexical.terms) and lexical.weight >= topic.min_keyword_weight
        return vocabulary or (meaning >= topic.meaning_alone and not lexical.negative)

    def example(
        self,
        reading: TopicReading,
        title: str,
        text: str,
        embedding: Embedding,
        article: int = 0,
        hashed: Any = None,
    ) -> Example:
        """What a topic's learned part reads of an article: its vectors, words and the rule's
        reading of it (`article`: its id when stored, so that a mark is not its own evidence)."""
        return learned_example(
            embedding,
            f"{title}\n{text}",
            reading.raw,
            keyword_score(reading.lexical),
            article,
            hashed,
        )

    def learned_probability(
        self,
        topic: Topic,
        title: str,
        text: str,
        embedding: Embedding,
        lang: str | None = None,
        article: int = 0,
    ) -> tuple[TopicReading, float | None]:
        """The rule's reading and, for a topic with a learned part, its probability."""
        r = self.score(topic, text, embedding, title, lang)
        model = self.learned.get(topic.slug)
        if model is None:
            return r, None
        p = probability(model, [self.example(r, title, text, embedding, article)])
        return r, float(p[0])

    def tag(
        self,
        title: str,
        text: str,
        embedding: Embedding,
        lang: str | None = None,
        article: int = 0,
    ) -> TagResult:
        """Topics, relevance and on-topic flag of one article (`lang`: its language, which
        decides whether the English chunks or the multilingual lead give the meaning). A topic
        with a learned part is given by it; the others by their rule."""
        tags = []
        learns = bool(self.learned) or self.theme is not None
        hashed = hashed_words([f"{title}\n{text}"])[0] if learns else None
        for topic in self.topics:
            r = self.score(topic, text, embedding, title, lang)
            lexical = r.lexical
            model = self.learned.get(topic.slug)
            learned: dict[str, Any] | None = None
            if model is not None:
                ex = self.example(r, title, text, embedding, article, hashed)
                p = float(probability(model, [ex])[0])
                if p < model.threshold:
                    continue
                learned = learned_evidence(model, p)
            elif not self.qualifies(topic, r.score, r.meaning, lexical):
                continue
            terms = [t for t in topic.keywords if t.text in lexical.terms]
            evidence: dict[str, Any] = {
                "meaning": round(r.meaning, 4),
                "words": round(1.0 - math.exp(-lexical.weight), 4),
                "raw_similarity": round(r.raw, 4),
                "meaning_from": "multilingual lead" if r.by_lead else "English chunks",
                "matched_terms": list(lexical.terms),
                "negative_terms": list(lexical.negative),
                "threshold": topic.threshold if learned is None else learned["threshold"],
            }
            if learned is not None:
                evidence["learned"] = learned
            tags.append(
                TopicTag(
                    topic=topic.slug,
                    score=round(r.score if learned is None else learned["probability"], 4),
                    matched_terms=lexical.terms,
                    passage=passage(text, embedding, r.per_chunk, terms),
                    evidence=evidence,
                )
            )
        relevance = self.relevance(embedding)
        if self.theme is not None:
            # Off-theme marks: an article like them loses relevance as sure as the model is.
            ex = learned_example(embedding, f"{title}\n{text}", relevance, 0.0, article, hashed)
            off = float(probability(self.theme, [ex])[0])
            if off >= self.theme.threshold:
                relevance *= 1.0 - off
        return TagResult(
            topics=tuple(sorted(tags, key=lambda t: -t.score)),
            relevance=round(relevance, 4),
            on_topic=bool(tags) or relevance >= self.min_relevance,
        )


def learned_evidence(model: LearnedModel, p: float) -> dict[str, Any]:
    """What a tag given by a learned part records of it (explain's "learned from" line)."""
    return {
        "version": model.version,
        "marks": model.marks,
        "yes": model.yes,
        "no": model.no,
        "probability": round(p, 4),
        "threshold": model.threshold,
    }


def build_tagger(
    settings: TopicsSettings,
    seeds_dir: Path,
    embedder: Embedder,
    seed_vectors: np.ndarray,
    seed_chunk_vectors: np.ndarray,
    lead_embedder: LeadEmbedder | None = None,
) -> Tagger:
    """The tagger the settings describe, given the seed corpus's article and chunk vectors (and
    the multilingual lead embedder, when on, for articles in other languages)."""
    topics = load_topics(settings.file, seeds_dir, settings)
    prototypes, leads = {}, {}
    for topic in topics:
        texts = [topic.description, *topic.exemplars]
        # Long exemplars (whole seed files) contribute every chunk, short ones one vector.
        vectors = [c.vector for e in embedder.embed(texts) for c in e.chunks]
        prototypes[topic.slug] = np.stack(vectors).astype(np.float32)
        if lead_embedder is not None:
            # A lead is what an article in another language is compared by: so are exemplars.
            leads[topic.slug] = lead_embedder.passages([lead_of("", t, None) for t in texts])
    return Tagger(
        topics,
        prototypes,
        np.asarray(seed_chunk_vectors, dtype=np.float32),
        settings.min_relevance,
        lead_prototypes=leads,
        lead_floor=settings.lead_sim_floor,
        lead_ceiling=settings.lead_sim_ceiling,
    )
