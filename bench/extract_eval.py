"""Extraction alone on the 181 pages of ../shared/corpus/news-pages: precision, recall and F1
against `articleBody` (the benchmark's own metric), ms per page, and the worst pages.

    .venv/bin/python bench/extract_eval.py [--worst 10] [--variants]

--variants also scores the alternatives to each chosen option (the choices in
pipeline/extract/article.py's docstring rest on these figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from pipeline.extract.article import DEFAULT_OPTIONS, ExtractOptions, extract_page
from pipeline.testkit import SHARED
from pipeline.testkit.corpus import load_pages
from pipeline.testkit.scoring import corpus_score, page_score

NEWS_PAGES = SHARED / "corpus" / "news-pages"

VARIANTS = {
    "chosen": DEFAULT_OPTIONS,
    "trafilatura defaults (balanced, no merge, no second pass)": ExtractOptions(
        favor_precision=False, merge_split_bodies=False, second_pass_words=0
    ),
    "favor_recall instead of favor_precision": dataclasses.replace(
        DEFAULT_OPTIONS, favor_precision=False, favor_recall=True
    ),
    "no fallback extractors (fast)": dataclasses.replace(DEFAULT_OPTIONS, fallbacks=False),
    "without tables": dataclasses.replace(DEFAULT_OPTIONS, include_tables=False),
    "no split-body merge": dataclasses.replace(DEFAULT_OPTIONS, merge_split_bodies=False),
    "no second pass": dataclasses.replace(DEFAULT_OPTIONS, second_pass_words=0),
}


def score(pages, options: ExtractOptions) -> tuple[list[str], tuple[float, float, float], float]:
    """Texts, (precision, recall, F1) and seconds for one set of options."""
    started = time.perf_counter()
    texts = []
    for page in pages:
        extract = extract_page(page.html, page.url, options=options)
        texts.append(extract.text if extract else "")
    elapsed = time.perf_counter() - started
    return texts, corpus_score(zip(texts, (p.body for p in pages), strict=False)), elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worst", type=int, default=10)
    ap.add_argument("--variants", action="store_true", help="score the alternatives too")
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    pages = load_pages(NEWS_PAGES)
    texts, (precision, recall, f1), elapsed = score(pages, DEFAULT_OPTIONS)
    print(
        f"{len(pages)} pages: precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  "
        f"({1000 * elapsed / len(pages):.0f} ms per page)"
    )
    scored = sorted(
        ((page_score(t, p.body), p.url) for t, p in zip(texts, pages, strict=False)),
        key=lambda x: min(x[0]),
    )
    print(f"worst {args.worst} pages (precision, recall):")
    for (p, r), url in scored[: args.worst]:
        print(f"  {p:.2f} {r:.2f}  {url}")
    if args.variants:
        print("\nvariants:")
        for name, options in VARIANTS.items():
            _, (p, r, f), secs = score(pages, options)
            print(
                f"  F1 {f:.4f}  P {p:.4f}  R {r:.4f}  {1000 * secs / len(pages):4.0f} ms/page  "
                f"{name}"
            )


if __name__ == "__main__":
    main()
