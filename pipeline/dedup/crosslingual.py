"""Cross-lingual evidence: multilingual "title + lead" vectors compared across languages (pure;
the vectors come from pipeline/embed/multilingual.py).

The English model reads English only, so an article in another language is compared with the
others through a second, multilingual model that reads its title and lead (the first
`LEAD_WORDS` words; Chinese and Japanese, written without spaces, by `LEAD_CHARS` characters):
full texts are too slow for it on a CPU, and the lead carries the event.

Raw multilingual cosines say as much about the two languages as about the two stories: unrelated
pairs in two languages score close to a translation. So each vector is first centered on the
mean vector of its own language (`LanguageMeans`), which removes what every text of that
language shares, and the cosine of the centered vectors is compared. Centering by parallel
anchor sentences plus the stored leads' shared news domain keeps the threshold where it is
whether a language has no stored article yet or hundreds, where the anchors alone would need a
higher threshold and the stored leads alone are no mean at all for the first article. The
measurements (cross-lingual story pairs, a development set) are in bench/README.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import numpy as np

from pipeline.textnorm import UNSPACED_SCRIPT

#: Words of title + text read for a lead (more joined more same-story pairs than 40 did, without
#: joining unrelated ones: bench/README.md).
LEAD_WORDS = 60
#: Characters of title + text read for a lead in a language written without spaces.
LEAD_CHARS = 120
#: Pseudo-leads of its prior (anchors + domain) that every language's mean keeps.
PRIOR_WEIGHT = 20
#: Pseudo-leads of "no domain" that the domain estimate starts from: a few stored leads, all on
#: the theme being watched, would otherwise take the theme itself for the domain.
DOMAIN_PRIOR = 30
#: How much higher centered cosines run while the domain is unknown (anchors alone): the gap
#: between the best thresholds with anchors alone and with the domain estimated (a calibration
#: of the centering, not a decision threshold: bench/README.md). The similarity reported is
#: lowered by this much times the domain's missing weight.
EARLY_MARGIN = 0.15
#: Languages written without spaces between words (leads counted by characters).
UNSPACED = {"zh", "ja", "th", "lo", "km", "my"}


def base_lang(lang: str | None) -> str:
    """The language part of a tag ('zh-CN' -> 'zh'); '' when unknown."""
    return (lang or "").split("-")[0].split("_")[0].lower()


def unspaced(text: str, lang: str | None) -> bool:
    """Whether a text is written without spaces (by its language, else by its characters)."""
    if base_lang(lang) in UNSPACED:
        return True
    sample = text[:400]
    return len(UNSPACED_SCRIPT.findall(sample)) > 0.3 * max(1, len(sample.replace(" ", "")))


def lead_of(
    title: str, text: str, lang: str | None, words: int = LEAD_WORDS, chars: int = LEAD_CHARS
) -> str:
    """Title and the first words of the text, `words` words in all (`chars` non-space
    characters for unspaced languages); the title is left out when the text starts with it."""
    title = " ".join((title or "").split())
    body = " ".join((text or "").split())
    joined = body if not title or body.startswith(title) else f"{title}. {body}"
    if unspaced(joined, lang):
        out, n = [], 0
        for ch in joined:
            if n >= chars:
                break
            out.append(ch)
            n += not ch.isspace()
        return "".join(out)
    return " ".join(joined.split()[:words])


def crosses(lang_a: str | None, lang_b: str | None) -> bool:
    """Whether a pair is judged by lead vectors: not both English (the English model judges
    those), so two languages, or one language other than English."""
    return not (base_lang(lang_a) == "en" and base_lang(lang_b) == "en")


class LanguageMeans:
    """The mean lead vector of each language, which centering subtracts.

    A language's mean has two parts: what is proper to the language, and what every news lead
    shares whatever its language (the domain). The first comes from parallel anchor sentences
    (pipeline/lead_anchors.toml: the same everyday items in each language, so their means differ
    by language alone); the second from the stored leads, pooled over every language once each
    is moved by its anchor mean. As leads of a language accumulate they take over its mean:
    `PRIOR_WEIGHT` pseudo-leads of anchor + domain stay in it. A language without anchors is
    `known` only once `PRIOR_WEIGHT` leads of it are stored.
    """

    def __init__(self, anchors: Mapping[str, np.ndarray] | None = None) -> None:
        self.anchors = {base_lang(k): np.asarray(v, np.float64) for k, v in (anchors or {}).items()}
        self.dim = next((v.shape[0] for v in self.anchors.values()), 0)
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}
        self._domain = np.zeros(self.dim)
        self._domain_n = 0

    def add(self, lang: str | None, vector: np.ndarray, sign: int = 1) -> None:
        """Count one lead vector in (or out, with sign=-1)."""
        key = base_lang(lang)
        v = np.asarray(vector, dtype=np.float64)
        if not self.dim:
            self.dim = v.shape[0]
            self._domain = np.zeros(self.dim)
        self._sum[key] = self._sum.get(key, np.zeros(self.dim)) + sign * v
        self._count[key] = self._count.get(key, 0) + sign
        if key in self.anchors:
            self._domain = self._domain + sign * (v - self.anchors[key])
            self._domain_n += sign

    def count(self, lang: str | None) -> int:
        """Lead vectors counted in this language."""
        return self._count.get(base_lang(lang), 0)

    def known(self, lang: str | None) -> bool:
        """Whether a language's mean can be trusted: it has anchors, or enough stored leads."""
        key = base_lang(lang)
        return key in self.anchors or self._count.get(key, 0) >= PRIOR_WEIGHT

    def domain(self) -> np.ndarray:
        """What stored leads share beyond their language, shrunk toward zero while few are
        stored (`DOMAIN_PRIOR`)."""
        return self._domain / (max(self._domain_n, 0) + DOMAIN_PRIOR)

    def domain_weight(self) -> float:
        """How far the domain estimate has come: 0 with no lead stored, toward 1 with many."""
        n = max(self._domain_n, 0)
        return n / (n + DOMAIN_PRIOR)

    def margin(self) -> float:
        """What centered cosines are lowered by while the domain is not yet known."""
        return EARLY_MARGIN * (1.0 - self.domain_weight())

    def prior(self, lang: str | None) -> np.ndarray:
        """A language's mean before any lead of it is stored: its anchors' mean (else the mean
        of all anchors, else of all stored leads) plus the domain."""
        key = base_lang(lang)
        if key in self.anchors:
            return self.anchors[key] + self.domain()
        if self.anchors:
            return np.mean(list(self.anchors.values()), axis=0) + self.domain()
        n = sum(self._count.values())
        # The sum of arrays is an array (mypy reads sum()'s start value 0 as a possible result).
        return cast(np.ndarray, sum(self._sum.values())) / n if n else np.zeros(self.dim)

    def mean(self, lang: str | None) -> np.ndarray:
        """A language's mean: its stored leads and `PRIOR_WEIGHT` pseudo-leads of its prior."""
        key = base_lang(lang)
        n = self._count.get(key, 0)
        return (self._sum.get(key, np.zeros(self.dim)) + PRIOR_WEIGHT * self.prior(key)) / (
            n + PRIOR_WEIGHT
        )

    def center(self, vectors: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        """Unit vectors after subtracting each one's language mean."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors):
            return vectors.reshape(0, self.dim or 0)
        means = {k: self.mean(k).astype(np.float32) for k in {base_lang(x) for x in langs}}
        out = vectors - np.stack([means[base_lang(x)] for x in langs])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class LeadBook:
    """Lead vectors of stored originals with their language and time, and the language means.

    Rows live in arrays that grow by doubling, so adding one article costs no copy of the rest;
    a removed row is only marked dead (removals are rare: a batch that could not be written)."""

    def __init__(self, anchors: Mapping[str, np.ndarray] | None = None) -> None:
        self.means = LanguageMeans(anchors)
        self._pos: dict[int, int] = {}
        self._ids = np.zeros(0, np.int64)
        self._times = np.zeros(0, np.float64)
        self._alive = np.zeros(0, bool)
        self._english = np.zeros(0, bool)
        self._langs: list[str] = []
        self._matrix = np.zeros((0, 0), np.float32)
        self._n = 0

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, article_id: int) -> bool:
        return article_id in self._pos

    def _grow(self, dim: int) -> None:
        size = max(1024, 2 * self._n)
        for name, fill in (("_ids", 0), ("_times", 0.0), ("_alive", False), ("_english", False)):
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)
        matrix = np.zeros((size, dim), np.float32)
        if self._n:
            matrix[: self._n] = self._matrix[: self._n]
        self._matrix = matrix

    def add(self, article_id: int, lang: str | None, when: float, vector: np.ndarray) -> None:
        """Hold one article's lead vector (counted in its language's mean)."""
        if article_id in self._pos or vector is None or not np.asarray(vector).size:
            return
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._n and v.shape[0] != self._matrix.shape[1]:
            return  # another model's vector: not comparable with those held
        if self._n == len(self._ids):
            self._grow(v.shape[0])
        self.means.add(lang, v)
        k = self._n
        self._ids[k], self._times[k], self._alive[k] = article_id, when, True
        self._english[k] = base_lang(lang) == "en"
        self._matrix[k] = v
        self._langs.append(base_lang(lang))
        self._pos[article_id] = k
        self._n += 1

    def remove(self, ids: Iterable[int]) -> None:
        """Forget some articles."""
        for i in ids:
            k = self._pos.pop(i, None)
            if k is not None:
                self._alive[k] = False
                self.means.add(self._langs[k], self._matrix[k], sign=-1)

    def lang_of(self, article_id: int) -> str | None:
        """The language an article's lead was counted in."""
        k = self._pos.get(article_id)
        return None if k is None else self._langs[k]

    def matches(
        self,
        vector: np.ndarray,
        lang: str | None,
        when: float,
        window_s: float,
        floor: float,
        exclude: int | None = None,
    ) -> dict[int, float]:
        """Centered lead cosine (less the early margin) to every stored article within
        `window_s` of `when` whose pair with this language crosses (see `crosses`) and whose
        language is known, at `floor` or above."""
        if not self._pos or vector is None or not np.asarray(vector).size:
            return {}
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape[0] != self._matrix.shape[1]:
            return {}
        n = self._n
        mine = base_lang(lang)
        if not self.means.known(mine):
            return {}
        near = self._alive[:n] & (np.abs(self._times[:n] - when) <= window_s)
        if mine == "en":  # English pairs are the English model's to judge (`crosses`)
            near &= ~self._english[:n]
        if exclude is not None:
            near &= self._ids[:n] != exclude
        known = {k: self.means.known(k) for k in set(self._langs)}
        rows = [k for k in np.flatnonzero(near).tolist() if known[self._langs[k]]]
        if not rows:
            return {}
        sims = self._to_rows(v, mine, rows)
        return {
            int(self._ids[rows[j]]): float(x) for j, x in enumerate(sims.tolist()) if x >= floor
        }

    def _to_rows(self, vector: np.ndarray, lang: str, rows: Sequence[int]) -> np.ndarray:
        """Centered cosines (less the early margin) of a lead vector in `lang` to held rows."""
        q = self.means.center(vector[None, :], [lang])[0]
        others = self.means.center(self._matrix[rows], [self._langs[k] for k in rows])
        return others @ q - self.means.margin()

    def closest_between(self, a: Sequence[int], b: Sequence[int]) -> float:
        """The highest lead similarity (as `similarity` gives it) between an article of one
        list and one of the other, over pairs that cross; -1.0 when there is none."""
        ka = [self._pos[i] for i in a if i in self._pos]
        kb = [self._pos[i] for i in b if i in self._pos]
        if not ka or not kb:
            return -1.0
        left = self.means.center(self._matrix[ka], [self._langs[k] for k in ka])
        right = self.means.center(self._matrix[kb], [self._langs[k] for k in kb])
        sims = left @ right.T
        english_a = np.array([self._langs[k] == "en" for k in ka])
        english_b = np.array([self._langs[k] == "en" for k in kb])
        sims[np.outer(english_a, english_b)] = -2.0  # English pairs: the English model's
        best = float(sims.max())
        return -1.0 if best <= -2.0 else best - self.means.margin()

    def english_similarities(self, vector: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        """Centered lead cosine (less the early margin) of an English text's lead vector to the
        held English articles among `ids` (the pairs `matches` leaves to the English model); none
        until `PRIOR_WEIGHT` English leads are held."""
        # Two English texts are compared against the English mean alone, which is the news of
        # this warehouse only once enough English leads are in it: before, it is the anchors'
        # prior, and the first articles (the seeds, all on one theme) would look alike.
        if not self._pos or vector is None or self.means.count("en") < PRIOR_WEIGHT:
            return {}
        v = np.asarray(vector, np.float32).reshape(-1)
        rows = [self._pos[i] for i in ids if i in self._pos and self._english[self._pos[i]]]
        if not rows or v.shape[0] != self._matrix.shape[1]:
            return {}
        sims = self._to_rows(v, "en", rows)
        return {int(self._ids[k]): float(x) for k, x in zip(rows, sims.tolist(), strict=True)}

    def english_pair(self, a: int, b: int) -> float | None:
        """Centered lead cosine (less the early margin) of two held English articles, as
        `english_similarities` gives it; None when either is not held or fewer than
        `PRIOR_WEIGHT` English leads are."""
        ka, kb = self._pos.get(a), self._pos.get(b)
        if (
            ka is None
            or kb is None
            or not (self._english[ka] and self._english[kb])
            or self.means.count("en") < PRIOR_WEIGHT
        ):
            return None
        return float(self._to_rows(self._matrix[ka], "en", [kb])[0])

    def similarity(self, a: int, b: int) -> float:
        """Centered lead cosine of two held articles, as `matches` gives it (0.0 when either
        is not held)."""
        if a not in self._pos or b not in self._pos:
            return 0.0
        ka, kb = self._pos[a], self._pos[b]
        pair = self.means.center(self._matrix[[ka, kb]], [self._langs[ka], self._langs[kb]])
        return float(pair[0] @ pair[1]) - self.means.margin()
