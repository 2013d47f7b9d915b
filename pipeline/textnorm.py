"""Text normalisation shared by hashing, deduplication and tagging (pure functions)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_SPACE_RE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_BLANKS_RE = re.compile(r"\n\s*\n+")

# Scripts by Unicode block, one definition for language detection, leads and keyword matching.
#: Han ideographs (CJK unified, extension A, compatibility).
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: Hiragana and katakana.
KANA = re.compile(r"[\u3040-\u30ff]")
#: Hangul syllables (Korean, written with spaces between words).
HANGUL = re.compile(r"[\uac00-\ud7af]")
#: Thai.
THAI = re.compile(r"[\u0e00-\u0e7f]")
#: Characters of scripts written without spaces between words: no word boundaries to match a
#: keyword by, and a character rather than a word is the unit of a lead's length.
UNSPACED_SCRIPT = re.compile(f"{HAN.pattern}|{KANA.pattern}|{THAI.pattern}")
#: Characters of Chinese or Japanese, and of Thai (vowel and tone marks included), that make one
#: word on average, when a text's length is measured in words: a Chinese word runs 1.5 to 2
#: characters, a Japanese one a little more; a Thai word 5 to 7 code points. The lower end is
#: taken: a length asked of a text decides whether it is long enough to keep.
CJK_CHARS_PER_WORD = 2
THAI_CHARS_PER_WORD = 5
_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)
_NON_LATIN_RE = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f]", re.UNICODE)


def tidy(text: str) -> str:
    """Unicode-normalise and collapse runs of spaces and blank lines, keeping paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS_RE.sub("\n\n", "\n".join(lines)).strip()


def normalize_for_hash(text: str) -> str:
    """Case-, quote- and whitespace-insensitive form of a text: equal forms mean the same text."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(_WORD_RE.findall(text))


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text."""
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8")).hexdigest()


def words(text: str) -> list[str]:
    """Lower-cased word tokens of a text."""
    return _WORD_RE.findall(unicodedata.normalize("NFKC", text).translate(_QUOTES).lower())


def word_count(text: str) -> int:
    """Number of word tokens."""
    return len(_WORD_RE.findall(text))


def length_in_words(text: str) -> int:
    """A text's length in words, per script: the whitespace-separated words of scripts written
    with spaces (Latin, Cyrillic, Korean, Arabic...), and for Chinese, Japanese and Thai, written
    without them, the words their characters make (a character is not a word)."""
    cjk = len(HAN.findall(text)) + len(KANA.findall(text))
    thai = len(THAI.findall(text))
    if not cjk and not thai:
        return len(text.split())
    # What is left between the runs of those scripts: words of other scripts, and punctuation
    # (。，「」), which is no word.
    spaced = [t for t in UNSPACED_SCRIPT.sub(" ", text).split() if _WORD_RE.search(t)]
    return len(spaced) + cjk // CJK_CHARS_PER_WORD + thai // THAI_CHARS_PER_WORD


def is_english_like(lang: str | None, text: str) -> bool:
    """Whether the English-only model may compare this text: declared English, or undeclared
    and written (almost) only in Latin letters."""
    if lang:
        return lang.lower().startswith("en")
    sample = text[:3000]
    letters = len(_LETTER_RE.findall(sample))
    return letters == 0 or len(_NON_LATIN_RE.findall(sample)) / letters < 0.1
