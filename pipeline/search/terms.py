"""The full-text analyzer (pure): one way to turn a stored article and a query into terms.

Text is NFKC-normalised and case-folded; a word is a run of letters and digits. Latin-script
words lose their accents and are stemmed by Snowball's English stemmer, Cyrillic words by its
Russian one (PyStemmer), so "sanctioned" finds "sanctions" and "Вагнера" finds "Вагнер". Chinese,
Japanese and Korean are written without spaces: each run of those characters becomes its
overlapping character pairs (the usual bigram indexing of CJK text), so 天仪空间 is found inside
长沙天仪空间科技. English function words and single Latin letters are dropped.

A query is analysed the same way; words in double quotes are also a phrase that a result must
contain as written (case and punctuation between the words aside).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache

import Stemmer

from pipeline.models import IndexedTerms, Phrase

#: Changes whenever the terms an article gets change; stored per article in `search_docs`.
ANALYZER = "snowball-en-ru-cjk2/2"  # 2: word positions
#: A title's terms count this many times: a word in the headline says what the article is about.
TITLE_WEIGHT = 2

_WORD_RE = re.compile(r"[^\W_]+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN_RE = re.compile(f"[{_CJK}]+|[^{_CJK}]+")
_HAS_CJK_RE = re.compile(f"[{_CJK}]")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_PHRASE_RE = re.compile(r'"([^"]*)"')

# Written out because no library the project already uses ships an English stopword list
# (scikit-learn's would add a heavy import for one constant); these are function words only,
# so no query about a subject loses a word it needs.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
        "says",
        "s",
        "t",
    ]
)


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def _strip_accents(word: str) -> str:
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def analyze(text: str) -> list[str]:
    """The terms of a text in order (stemmed, stopwords dropped; CJK as character pairs)."""
    return [term for _, term in positioned_terms(text)]


def positioned_terms(text: str) -> list[tuple[int, str]]:
    """The terms of a text with their word positions; a dropped word keeps its place, so
    "trade of the deal" does not hold the phrase "trade deal"."""
    return _positioned(text)[0]


def _positioned(text: str) -> tuple[list[tuple[int, str]], int]:
    """The terms with their positions, and how many positions the text has."""
    latin: list[tuple[int, str]] = []
    cyrillic: list[tuple[int, str]] = []
    out: list[tuple[int, str]] = []
    position = 0
    for word in _WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()):
        if _HAS_CJK_RE.search(word):
            for run in _CJK_RUN_RE.findall(word):
                if _HAS_CJK_RE.match(run):
                    for gram in _bigrams(run):
                        out.append((position, gram))
                        position += 1
                else:
                    _route(run, position, out, latin, cyrillic)
                    position += 1
        else:
            _route(word, position, out, latin, cyrillic)
            position += 1
    # One call per script: the stemmer's C loop and cache do the work.
    for language, slots in (("english", latin), ("russian", cyrillic)):
        if slots:
            for (slot, _), stem in zip(
                slots, _stemmer(language).stemWords([w for _, w in slots]), strict=True
            ):
                out[slot] = (out[slot][0], stem)
    return [(p, t) for p, t in out if t], position


def _route(
    word: str,
    position: int,
    out: list[tuple[int, str]],
    latin: list[tuple[int, str]],
    cyrillic: list[tuple[int, str]],
) -> None:
    if _CYRILLIC_RE.search(word):
        cyrillic.append((len(out), word))
        out.append((position, word))
        return
    word = _strip_accents(word)
    if word in STOPWORDS or (len(word) == 1 and not word.isdigit()):
        return
    if word.isdigit():
        out.append((position, word))
        return
    latin.append((len(out), word))
    out.append((position, word))


def index_terms(title: str, text: str) -> IndexedTerms:
    """The counted terms an article is indexed under (title terms weighted), and where each
    occurs (the title's words first; a gap keeps a phrase from joining title and text)."""
    headline = positioned_terms(title)
    body = positioned_terms(text)
    counts = Counter(t for _, t in body)
    for _, term in headline:
        counts[term] += TITLE_WEIGHT
    start = headline[-1][0] + 2 if headline else 0
    positions: dict[str, list[int]] = {}
    for position, term in headline:
        positions.setdefault(term, []).append(position)
    for position, term in body:
        positions.setdefault(term, []).append(start + position)
    return IndexedTerms(
        ANALYZER,
        sum(counts.values()),
        dict(counts),
        {term: tuple(where) for term, where in positions.items()},
    )


@dataclass(frozen=True)
class ParsedQuery:
    """A query analysed: what is embedded, the terms to find, the phrases a result must hold."""

    text: str  # the query without quotes (embedded for meaning)
    terms: tuple[str, ...]  # distinct analysed terms, in query order
    phrases: tuple[str, ...]  # quoted phrases as typed
    surface: dict[str, str]  # analysed term -> the query word it came from

    def phrase_checks(self) -> list[Phrase]:
        """Each phrase as the index checks it: its terms at their places, counted from its
        first term, and its pattern for texts indexed without positions."""
        found = []
        for phrase in self.phrases:
            terms, places = _positioned(phrase)
            offsets = tuple((p - terms[0][0], t) for p, t in terms)
            # A function word is in no index: its place is kept, but which word fills it is
            # known only from the text.
            found.append(Phrase(offsets, phrase_source(phrase), complete=len(terms) == places))
        return found


def parse_query(query: str) -> ParsedQuery:
    """Split a query into terms and quoted phrases (an unmatched quote is ignored)."""
    phrases = tuple(p.strip() for p in _PHRASE_RE.findall(query) if analyze(p))
    plain = " ".join(query.replace('"', " ").split())
    surface: dict[str, str] = {}
    for word in _WORD_RE.findall(unicodedata.normalize("NFKC", plain)):
        for term in analyze(word):
            surface.setdefault(term, word)
    return ParsedQuery(plain, tuple(surface), phrases, surface)


def phrase_source(phrase: str) -> str:
    """A regular expression (Python's, flags inline) finding a phrase's words in sequence, case
    aside, with any punctuation or spacing between them and whole words at both ends."""
    words = _WORD_RE.findall(unicodedata.normalize("NFKC", phrase))
    body = r"[\W_]+".join(re.escape(w) for w in words)
    if _HAS_CJK_RE.search(phrase):
        return "(?i)" + body  # CJK has no word boundaries to respect
    return r"(?i)(?<![^\W_])" + body + r"(?![^\W_])"


def phrase_pattern(phrase: str) -> re.Pattern:
    """`phrase_source` compiled (passages are picked, and phrases checked, in Python)."""
    return re.compile(phrase_source(phrase))
