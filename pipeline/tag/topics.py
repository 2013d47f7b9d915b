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

Relevance is the article's similarity to the seed corpus: the mean of its two best chunk-to-seed
chunk similarities (1.0 for a seed itself). An article with no topic and relevance below
`[topics] min_relevance` is off-topic: stored, but left out of the analyst views and the digest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config.settings import TopicsSettings
from pipeline.config.tomlfile import array_of_tables, numbered_tables, read_toml
from pipeline.errors import ConfigError
from pipeline.models import Embedding, TagResult, TopicTag
from pipeline.tag.learned import Example, LearnedModel, hashed_words, probability
from pipeline.tag.learned import example as learned_example
from pipeline.textnorm import UNSPACED_SCRIPT, is_english_like

if TYPE_CHECKING:
    from pipeline.embed.english import Embedder
    from pipeline.embed.multilingual import LeadEmbedder

_SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOPIC_KEYS = {
    "slug",
    "label",
    "description",
    "keywords",
    "context",
    "negative",
    "exemplars",
    "threshold",
    "semantic_weight",
    "sim_floor",
    "sim_ceiling",
    "min_keyword_weight",
    "meaning_alone",
}
PASSAGE_CHARS = 300


@dataclass(frozen=True)
class Term:
    """A keyword or phrase with its weight and the pattern that finds its inflections."""

    text: str
    weight: float
    pattern: re.Pattern


@dataclass(frozen=True)
class Topic:
    """One topic as configured."""

    slug: str
    label: str
    description: str
    keywords: tuple[Term, ...]
    # Its rule: the topics file's values, else the [topics] default_* settings (load_topics).
    threshold: float
    semantic_weight: float
    sim_floor: float
    sim_ceiling: float
    min_keyword_weight: float
    meaning_alone: float
    context: tuple[Term, ...] = ()
    negative: tuple[Term, ...] = ()
    exemplars: tuple[str, ...] = ()


def _inflections(word: str) -> str:
    """A regex alternation of a word's common English inflections."""
    w = re.escape(word.lower())
    forms = {w}
    if re.search(r"[^aeiou]y$", word.lower()):
        stem = re.escape(word.lower()[:-1])
        forms |= {f"{stem}ies", f"{stem}ied", f"{w}ing"}
    elif word.lower().endswith("e"):
        stem = re.escape(word.lower()[:-1])
        forms |= {f"{w}s", f"{w}d", f"{stem}ing"}
    else:
        forms |= {f"{w}s", f"{w}es", f"{w}ed", f"{w}ing"}
        if re.search(r"[^aeiou][aeiou][bdgmnprt]$", word.lower()) and len(word) <= 4:
            last = re.escape(word.lower()[-1])
            forms |= {f"{w}{last}ed", f"{w}{last}ing"}
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def term_pattern(term: str) -> re.Pattern:
    """Whole-word, case-insensitive pattern of a keyword or phrase; the last word inflects.

    A term ending in '*' matches any word starting with it (espionage* → espionage-related). A
    term in a script written without spaces (Chinese, Japanese, Thai) matches wherever it occurs.
    """
    words = term.strip().split()
    if not words:
        raise ValueError("empty term")
    if UNSPACED_SCRIPT.search(term):
        return re.compile(r"\s*".join(re.escape(w.rstrip("*")) for w in words), re.IGNORECASE)
    parts = [re.escape(w) for w in words[:-1]]
    last = words[-1]
    if last.endswith("*"):
        parts.append(re.escape(last[:-1]) + r"\w*")
    else:
        parts.append(_inflections(last))
    return re.compile(r"(?<![\w-])" + r"[\s-]+".join(parts) + r"(?![\w])", re.IGNORECASE)


def _terms(value: Any, where: str) -> tuple[Term, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        value = {t: 1.0 for t in value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of term = weight (or a list of terms)")
    out = []
    for text, weight in value.items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 10:
            raise ConfigError(f"{where}: weight of {text!r} must be a number in (0, 10]")
        try:
            out.append(Term(text, float(weight), term_pattern(text)))
        except ValueError:
            raise ConfigError(f"{where}: empty term") from None
    return tuple(out)


def _number(item: dict, key: str, default: float, lo: float, hi: float, where: str) -> float:
    value = item.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{where}: {key} must be a number from {lo:g} to {hi:g}")
    return float(value)


def load_topics(
    path: Path, seeds_dir: Path | None = None, defaults: TopicsSettings | None = None
) -> tuple[Topic, ...]:
    """Read and validate the topics file; exemplars may name seed files ("seed:<file>"). A
    topic's rule keys it leaves out take the [topics] default_* settings of `defaults` (the
    schema's when not given)."""
    d = defaults if defaults is not None else TopicsSettings()
    if not path.is_file():
        raise ConfigError(f"{path}: topics file not found ([topics] file)")
    items = array_of_tables(path, read_toml(path, "topics file"), "topics")
    if not items:
        raise ConfigError(f"{path}: define at least one [[topics]] table")
    topics, seen = [], set()
    for where, item in numbered_tables(path, items, "topics"):
        slug = item.get("slug")
        if not isinstance(slug, str) or not _SLUG_RE.match(slug):
            raise ConfigError(
                f"{where}: slug must be lower-case letters, digits and _ (e.g. sanctions)"
            )
        where = f"{path}: topic {slug}"
        bad = set(item) - _TOPIC_KEYS
        if bad:
            raise ConfigError(
                f"{where}: unknown key {sorted(bad)[0]!r}; allowed: "
                f"{', '.join(sorted(_TOPIC_KEYS))}"
            )
        if slug in seen:
            raise ConfigError(f"{where}: defined twice")
        seen.add(slug)
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ConfigError(f"{where}: description is required")
        keywords = _terms(item.get("keywords"), f"{where}: keywords")
        if "keywords" in item and not keywords:
            raise ConfigError(f"{where}: keywords must name at least one term (or leave it out)")
        exemplars = []
        for ex in item.get("exemplars", []):
            if not isinstance(ex, str) or not ex.strip():
                raise ConfigError(f"{where}: exemplars must be non-empty strings")
            if ex.startswith("seed:"):
                exemplars.append(_seed_text(ex, seeds_dir, where))
            else:
                exemplars.append(ex.strip())
        floor = _number(item, "sim_floor", d.default_sim_floor, 0.0, 1.0, where)
        ceiling = _number(item, "sim_ceiling", d.default_sim_ceiling, 0.0, 1.0, where)
        if ceiling <= floor:
            raise ConfigError(f"{where}: sim_ceiling must be above sim_floor")
        topics.append(
            Topic(
                slug=slug,
                label=str(item.get("label") or slug.replace("_", " ").title()),
                description=description.strip(),
                keywords=keywords,
                context=_terms(item.get("context"), f"{where}: context"),
                negative=_terms(item.get("negative"), f"{where}: negative"),
                exemplars=tuple(exemplars),
                threshold=_number(item, "threshold", d.default_threshold, 0.0, 1.0, where),
                # A topic of one sentence has no words to weigh: its meaning is its score.
                semantic_weight=_number(
                    item,
                    "semantic_weight",
                    d.default_semantic_weight if keywords else 1.0,
                    0.0,
                    1.0,
                    where,
                ),
                sim_floor=floor,
                sim_ceiling=ceiling,
                min_keyword_weight=_number(
                    item, "min_keyword_weight", d.default_min_keyword_weight, 0.0, 100.0, where
                ),
                meaning_alone=_number(
                    item, "meaning_alone", d.default_meaning_alone, 0.0, 1.01, where
                ),
            )
        )
    return tuple(topics)


def _seed_text(ref: str, seeds_dir: Path | None, where: str) -> str:
    from pipeline.tag.seeds import load_overrides, load_seed

    name = ref.removeprefix("seed:")
    if seeds_dir is None or not (seeds_dir / name).is_file():
        raise ConfigError(f"{where}: exemplar {ref} names no file in the seed folder")
    return load_seed(seeds_dir / name, load_overrides(seeds_dir).get(name)).text


@dataclass(frozen=True)
class LexicalMatch:
    """Keyword evidence of one topic in one text (negative terms already subtracted)."""

    terms: tuple[str, ...]
    weight: float
    context: bool
    negative: tuple[str, ...] = ()


def match_terms(topic: Topic, text: str) -> LexicalMatch:
    """Which of a topic's terms occur in a text (whole words, inflected, case-insensitive)."""
    found = [t for t in topic.keywords if t.pattern.search(text)]
    against = [t for t in topic.negative if t.pattern.search(text)]
    context = not topic.context or any(t.pattern.search(text) for t in topic.context)
    weight = max(0.0, sum(t.weight for t in found) - sum(t.weight for t in against))
    return LexicalMatch(
        tuple(t.text for t in found), weight, context, tuple(t.text for t in against)
    )


def top_mean(values: np.ndarray, k: int = 2) -> float:
    """Mean of the k largest values (all of them when fewer)."""
    if values.size == 0:
        return 0.0
    k = min(k, values.size)
    return float(np.sort(values)[-k:].mean())


def _passage(
    text: str, embedding: Embedding, chunk_scores: np.ndarray, terms: Sequence[Term]
) -> str:
    """The best chunk's most telling sentence(s), at most PASSAGE_CHARS characters."""
    if not text:
        return ""
    if chunk_scores.size:
        c = embedding.chunks[int(np.argmax(chunk_scores))]
        region = text[c.start_char : c.end_char]
    else:
        region = text
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(region.split()))
    best = max(sentences, key=lambda s: (sum(1 for t in terms if t.pattern.search(s)), len(s)))
    if len(best) > PASSAGE_CHARS:
        best = best[: PASSAGE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return best


@dataclass(frozen=True, eq=False)
class TopicReading:
    """One topic's reading of one article: its score and the parts the score is made of."""

    score: float
    meaning: float  # the raw similarity rescaled between floor and ceiling
    lexical: LexicalMatch
    per_chunk: np.ndarray  # each English chunk's similarity (empty when read by lead)
    raw: float  # the similarity before rescaling
    by_lead: bool  # meaning from the multilingual lead, not the English chunks


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
        words = _words(lexical)
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
            _words(reading.lexical),
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
                    passage=_passage(text, embedding, r.per_chunk, terms),
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


def _words(lexical: LexicalMatch) -> float:
    """The keyword part of a rule's score (0..1)."""
    return 1.0 - math.exp(-lexical.weight) if lexical.context else 0.0


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
    from pipeline.dedup.crosslingual import lead_of

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
