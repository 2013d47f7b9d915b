"""Extraction alone on the 181 pages of ../shared/corpus/news-pages: precision, recall and F1
against `articleBody` (the benchmark's own metric), ms per page, and the worst pages.

    .venv/bin/python bench/extract_eval.py [--worst 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from pipeline.extract import extract_page
from pipeline.testkit.corpus import load_pages
from pipeline.testkit.scoring import corpus_score, page_score

NEWS_PAGES = ROOT.parent / "shared" / "corpus" / "news-pages"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worst", type=int, default=10)
    args = ap.parse_args()
    if not NEWS_PAGES.exists():
        sys.exit(f"{NEWS_PAGES} is absent: the benchmark needs the shared news pages")
    pages = load_pages(NEWS_PAGES)
    started = time.perf_counter()
    texts = []
    for page in pages:
        extract = extract_page(page.html, page.url)
        texts.append(extract.text if extract else "")
    elapsed = time.perf_counter() - started
    precision, recall, f1 = corpus_score(zip(texts, (p.body for p in pages)))
    print(f"{len(pages)} pages: precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  "
          f"({1000 * elapsed / len(pages):.0f} ms per page)")
    scored = sorted(((page_score(t, p.body), p.url) for t, p in zip(texts, pages)),
                    key=lambda x: min(x[0]))
    print(f"worst {args.worst} pages (precision, recall):")
    for (p, r), url in scored[:args.worst]:
        print(f"  {p:.2f} {r:.2f}  {url}")


if __name__ == "__main__":
    main()
