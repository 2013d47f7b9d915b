"""A page's language: the one it declares, and the one its text is in (py3langid, or the script
for Chinese, Japanese, Korean and Thai); pipeline/extract/article.py decides between the two
(the detector wins when it is sure: see that module's docstring).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml.html import HtmlElement
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from pipeline.textnorm import HAN, HANGUL, KANA, THAI

_LANG_RE = re.compile(r"^([A-Za-z]{2,3})(?:$|[-_])")

#: Below this many characters the language detector is not trusted over the page's declaration.
LANG_DETECT_MIN_CHARS = 200
#: The detector's normalised probability needed to override (or fill) the page's declaration.
LANG_DETECT_MIN_PROB = 0.9


_detector: Any = None
_detector_lock = threading.Lock()


def _language_identifier() -> Any:
    global _detector
    with _detector_lock:
        if _detector is None:
            # Loaded on first use: the model takes ~0.5 s to read.
            _detector = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _detector


def _unspaced_script(sample: str) -> str | None:
    """'zh', 'ja', 'ko' or 'th' for a text mostly in that script (40+ such characters)."""
    letters = sum(ch.isalpha() for ch in sample[:2000])
    han, kana = len(HAN.findall(sample[:2000])), len(KANA.findall(sample[:2000]))
    hangul, thai = len(HANGUL.findall(sample[:2000])), len(THAI.findall(sample[:2000]))
    best = max((han + kana, "cjk"), (hangul, "ko"), (thai, "th"))
    if best[0] < 40 or best[0] < 0.5 * max(1, letters):
        return None
    if best[1] == "cjk":
        return "ja" if kana >= 0.1 * (han + kana) else "zh"
    return best[1]


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of a text's language, or None when it is too short or unclear."""
    sample = text[:5000]
    script = _unspaced_script(sample)
    if script is not None:
        # The script says it: py3langid spreads short Chinese over zh/ja/wuu below its bar.
        return script
    if len(sample.strip()) < LANG_DETECT_MIN_CHARS:
        return None
    code, prob = _language_identifier().classify(sample)
    return code if prob >= LANG_DETECT_MIN_PROB and code != "und" else None


def declared_language(tree: HtmlElement) -> str | None:
    """The language a page declares (html lang, Content-Language, og:locale...), as its ISO
    639 code in lower case; None when it declares none."""
    values = [
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        tree.get("xml:lang"),
    ]
    values += tree.xpath(
        "//meta[translate(@http-equiv, 'CONTENTLAGU', 'contentlagu')='content-language']/@content"
    )
    values += tree.xpath(
        "//meta[@property='og:locale' or @name='language' "
        "or @name='dc.language' or @name='DC.language']/@content"
    )
    for value in values:
        match = _LANG_RE.match((value or "").strip())
        if match:
            return match.group(1).lower()
    return None
