"""What survives translation: the specifics of a text that read the same in any language (numbers,
amounts, dates, names in Latin script, URLs and handles, watched entities), and how much two texts
share of them, weighted by how rare each specific is among the stored articles.

Two reports of one event in two languages share few words, but they give the same figures, the
same day, the same people and places (spelt alike in Latin script, or transliterated from
Cyrillic), the same links. A multilingual lead cosine says the two texts mean the same; shared
rare specifics say they report the same facts, as shared rare words do for two English texts
(pipeline/dedup/words.py). The overlap score stands beside the lead cosine in the story rule
(pipeline/dedup/stories.py, the `lead+specifics` rule).

Each specific is a short key: `n:1200` a number (separators dropped), `a:5e6` an amount with its
scale word (million, Millionen, millones, milionów, миллионов, 万...), `p:12` a percentage,
`d:3-12` a day of a month (12 March, 12. März, 12 de marzo, 12 marca, 12 марта, 3月12日),
`w:` + a name's folded form (accents dropped, Cyrillic transliterated, cut to its first letters so
that declined forms, Trumps and Trumpa, read as Trump), `u:` a web address or handle, `e:` a
watched entity (its aliases in every script name it).
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable

import numpy as np

#: Slots of the hashed document frequencies (collisions are rare at this size, and harmless).
N_SPECIFICS = 1 << 18
#: Letters of a name kept: declined forms share them (Trump, Trumps, Trumpa; Merkel, Merkels).
NAME_PREFIX = 5
#: Weight added to the poorer text's specifics when the share found in the other is taken, so that
#: a text with one or two specifics, both shared, does not score as if it shared a dozen (about one
#: rare specific's weight; chosen by cross-validation on the story pairs: bench/README.md).
SPECIFICS_PRIOR = 5.0

_MONTHS = {
    # en, de, fr, es, it, pl (nominative and genitive), ru (genitive); the first letters suffice.
    1: ("jan", "jän", "janv", "ene", "gen", "sty", "янв"),
    2: ("feb", "fév", "fev", "lut", "фев"),
    3: ("mar", "mär", "mars", "mrz", "мар"),
    4: ("apr", "avr", "abr", "kwi", "апр"),
    5: ("may", "mai", "mayo", "mag", "maj", "мая", "май"),
    6: ("jun", "juin", "giu", "cze", "июн"),
    7: ("jul", "juil", "lug", "lip", "июл"),
    8: ("aug", "aoû", "aou", "ago", "sie", "авг"),
    9: ("sep", "set", "wrz", "сен"),
    10: ("oct", "okt", "ott", "paź", "paz", "окт"),
    11: ("nov", "lis", "ноя"),
    12: ("dec", "dez", "déc", "dic", "gru", "дек"),
}
# Ambiguous first letters: "mar" is March in most languages but marzec in Polish too (same
# month), "lis" listopad (November) but "lip" lipiec (July): the prefixes above do not overlap.
_MONTH_OF = {p: m for m, ps in _MONTHS.items() for p in ps}
_MONTH_WORD = r"[^\W\d_]{3,12}\.?"

_SCALES = {
    "thousand": 3, "tausend": 3, "mil": 3, "mille": 3, "tys": 3, "tysiąc": 3, "tysięcy": 3,
    "тыс": 3, "тысяч": 3, "тысячи": 3, "тысяча": 3,
    "million": 6, "millions": 6, "millionen": 6, "mio": 6, "millón": 6, "millones": 6,
    "milione": 6, "milioni": 6, "milion": 6, "miliony": 6, "milionów": 6, "mln": 6,
    "млн": 6, "миллион": 6, "миллиона": 6, "миллионов": 6,
    "billion": 9, "billions": 9, "milliarde": 9, "milliarden": 9, "mrd": 9, "miliard": 9,
    "miliardy": 9, "miliardów": 9, "mld": 9, "млрд": 9, "миллиард": 9, "миллиарда": 9,
    "миллиардов": 9, "bn": 9,
}  # fmt: skip
_CJK_SCALES = {"千": 3, "万": 4, "萬": 4, "亿": 8, "億": 8}
_PERCENT = ("%", "％", "prozent", "por ciento", "per cento", "procent", "proc", "процент", "pct")

_NUMBER = r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?"
_AMOUNT = re.compile(rf"(?<![\w.,])({_NUMBER})\s?([^\W\d_]+\.?)", re.UNICODE)
_CJK_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s?([千万萬亿億])")
_PERCENT_RE = re.compile(rf"(?<![\w.,])({_NUMBER})\s?(%|％|[^\W\d_]+)", re.UNICODE | re.IGNORECASE)
_CJK_PERCENT = re.compile(r"百分之(\d+(?:\.\d+)?)")
_BARE_NUMBER = re.compile(rf"(?<![\w.,])({_NUMBER})(?![\w])")
_DAY_MONTH = re.compile(rf"(?<!\d)(\d{{1,2}})\.?\s(?:de\s)?({_MONTH_WORD})", re.UNICODE)
_MONTH_DAY = re.compile(rf"({_MONTH_WORD})\s(\d{{1,2}})(?!\d)", re.UNICODE)
_NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(?:\d{2,4})?(?!\d)")
_CJK_DATE = re.compile(r"(\d{1,2})月(\d{1,2})[日号]")
_URL = re.compile(
    r"(?:https?://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,6})(?:/\S*)?", re.I
)
_HANDLE = re.compile(r"(?<![\w@])[@#]([A-Za-z0-9_]{3,30})")
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’-][^\W\d_]+)*", re.UNICODE)

_CYRILLIC = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфыэ", "abvgdeziiklmnoprstufye", strict=True)),
        **{"ё": "e", "ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch"},
        **{"ъ": "", "ь": "", "ю": "yu", "я": "ya"},
    }
)


def _fold(word: str) -> str:
    """Lower case, accents dropped, Cyrillic written in Latin letters."""
    word = word.lower()
    if any("\u0400" <= ch <= "\u04ff" for ch in word):
        word = word.translate(_CYRILLIC)
    decomposed = unicodedata.normalize("NFKD", word.replace("ł", "l").replace("ß", "ss"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _number(raw: str) -> float | None:
    """A written number's value: 1,200 / 1.200 / 1 200 are 1200; 2,5 and 2.5 are 2.5."""
    s = re.sub(r"[\u00a0\u202f ]", "", raw)
    groups = re.split(r"[.,]", s)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        s = "".join(groups)  # thousands separators
    elif len(groups) == 2:
        s = f"{groups[0]}.{groups[1]}"  # a decimal comma or point
    else:
        s = "".join(groups)
    try:
        return float(s)
    except ValueError:
        return None


def _value_key(value: float) -> str:
    """A value as written without separators, in powers of ten when large: 2020, 2.5, 2.5e9."""
    return f"{value:.6g}".replace("e+0", "e").replace("e+", "e")


#: Words that start a sentence in any Latin-script language and name nothing.
_FUNCTION_WORDS = """
    the and but for with this that these those there they their what when where which while
    after before from into over also his her its our your about against under between during
    der die das den dem des ein eine einer eines und aber auch mit bei nach vor von zum zur
    sie wir ich nicht noch nur wie wenn dass als auf aus für über
    los las les une des del por para con como pero una uno ese esta este esos estas
    nie jak ale oraz jest się ten tak tym już dla przez który która które
    und ist sind war wurde werden hat haben"""
_NOT_NAMES = frozenset(_FUNCTION_WORDS.split())


def specifics_of(
    text: str, entities: Callable[[str], Iterable[str]] | None = None
) -> frozenset[str]:
    """The specifics of a text that survive translation (see the module docstring)."""
    out: set[str] = set()
    spans: list[tuple[int, int]] = []  # numbers already read as amounts, percentages or dates

    def taken(m: re.Match[str]) -> None:
        spans.append(m.span(1))

    for m in _PERCENT_RE.finditer(text):
        unit = m.group(2).lower()
        if unit in ("%", "％") or unit.startswith(_PERCENT):
            v = _number(m.group(1))
            if v is not None:
                out.add(f"p:{_value_key(v)}")
                taken(m)
    for m in _CJK_PERCENT.finditer(text):
        out.add(f"p:{_value_key(float(m.group(1)))}")
    for m in _AMOUNT.finditer(text):
        scale = _SCALES.get(m.group(2).lower().rstrip("."))
        v = _number(m.group(1))
        if scale is not None and v is not None:
            out.add(f"a:{_value_key(v * 10**scale)}")
            taken(m)
    for m in _CJK_AMOUNT.finditer(text):
        out.add(f"a:{_value_key(float(m.group(1)) * 10 ** _CJK_SCALES[m.group(2)])}")
        taken(m)
    for m in _DAY_MONTH.finditer(text):
        month = _month(m.group(2))
        if month and 1 <= int(m.group(1)) <= 31:
            out.add(f"d:{month}-{int(m.group(1))}")
            taken(m)
    for m in _MONTH_DAY.finditer(text):
        month = _month(m.group(1))
        if month and 1 <= int(m.group(2)) <= 31:
            out.add(f"d:{month}-{int(m.group(2))}")
            spans.append(m.span(2))
    for m in _NUMERIC_DATE.finditer(text):
        day, month = int(m.group(1)), int(m.group(2))
        if 1 <= day <= 31 and 1 <= month <= 12:
            out.add(f"d:{month}-{day}")
            taken(m)
    for m in _CJK_DATE.finditer(text):
        out.add(f"d:{int(m.group(1))}-{int(m.group(2))}")
    for m in _BARE_NUMBER.finditer(text):
        if any(a <= m.start(1) < b for a, b in spans):
            continue
        v = _number(m.group(1))
        digits = re.sub(r"\D", "", m.group(1))
        if v is not None and len(digits) >= 2:
            out.add(f"n:{_value_key(v)}")
    out |= _addresses(text)
    out |= _names(text)
    if entities is not None:
        out |= {f"e:{e}" for e in entities(text)}
    return frozenset(out)


def _month(word: str) -> int | None:
    w = word.lower().rstrip(".")
    for n in (4, 3):
        if w[:n] in _MONTH_OF:
            return _MONTH_OF[w[:n]]
    return None


def _addresses(text: str) -> set[str]:
    """Web addresses (their host, without `www.`; an IP address is not one) and handles
    (@name, #tag), lower case."""
    out = set()
    for m in _URL.finditer(text):
        host = m.group(1).lower()
        if not re.fullmatch(r"[\d.]+", host) and "." in host:
            out.add(f"u:{host}")
    for m in _HANDLE.finditer(text):
        out.add(f"u:{m.group(1).lower()}")
    return out


def _names(text: str) -> set[str]:
    """Names: capitalised words of three letters or more in Latin or Cyrillic script, less
    the function words that start sentences, folded to their first `NAME_PREFIX` letters.
    (Leaving out capitalised words the text also writes in lower case, or those capitalised only
    at a sentence's start, lost more names than noise on the story pairs: bench/README.md.)"""
    out = set()
    for m in _WORD.finditer(text):
        w = m.group(0)
        if len(w) < 3 or not w[0].isupper():
            continue
        latin = all(ord(ch) < 0x0250 for ch in w)
        if not latin and not all("\u0400" <= ch <= "\u04ff" or ch in "'’-" for ch in w):
            continue
        folded = _fold(w)
        if (
            folded in _NOT_NAMES
            or folded.rstrip(".") in _SCALES
            or folded.startswith(_PERCENT)
            or (_month(folded) and len(folded) <= 9)
        ):
            continue
        out.add(f"w:{folded[:NAME_PREFIX]}")
    return out


def _slot(specific: str) -> int:
    return zlib.crc32(specific.encode("utf-8")) % N_SPECIFICS


class SpecificStats:
    """How many stored articles give each specific (the rarer, the more a shared one weighs),
    and the watched entities a text's specifics include (`entities`: a text to the names of the
    entities it mentions, pipeline/tag/watchlist.py; None: no watchlist)."""

    def __init__(self, entities: Callable[[str], Iterable[str]] | None = None) -> None:
        self.df = np.zeros(N_SPECIFICS, dtype=np.int32)
        self.docs = 0
        self.entities = entities

    def of(self, text: str) -> frozenset[str]:
        """The specifics of a text (with the watched entities it names)."""
        return specifics_of(text, self.entities)

    def add(self, specifics: Iterable[str], sign: int = 1) -> None:
        """Count one article's specifics in (or out, with sign=-1)."""
        for m in specifics:
            self.df[_slot(m)] += sign
        self.docs += sign

    def idf(self, specific: str) -> float:
        """Inverse document frequency of a specific (never below zero)."""
        return max(0.0, math.log((self.docs + 1.0) / (max(0, int(self.df[_slot(specific)])) + 0.5)))

    def overlap(self, a: frozenset[str], b: frozenset[str]) -> float:
        """The weight of the specifics two texts share against the weight of the specifics of the
        poorer of the two, plus `SPECIFICS_PRIOR` (0: none shared; toward 1: every specific of the
        poorer text found in the other, and enough of them to mean something)."""
        shared = a & b
        if not shared:
            return 0.0
        weight = {m: self.idf(m) for m in a | b}
        mine = sum(weight[m] for m in a)
        theirs = sum(weight[m] for m in b)
        return sum(weight[m] for m in shared) / (min(mine, theirs) + SPECIFICS_PRIOR)

    def shared(self, a: frozenset[str], b: frozenset[str], limit: int = 8) -> list[str]:
        """The rarest specifics two texts share, as the evidence shows them."""
        ranked = sorted(a & b, key=lambda m: (-self.idf(m), m))
        return [describe(m) for m in ranked[:limit]]


_KINDS = {"n": "", "a": "amount ", "p": "percent ", "d": "day ", "w": "", "u": "", "e": ""}


def describe(specific: str) -> str:
    """A specific as a reader sees it: 'trump', 'amount 2.5e9', 'day 3-12' (month-day)."""
    kind, _, value = specific.partition(":")
    return f"{_KINDS.get(kind, '')}{value}"
