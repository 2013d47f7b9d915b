"""Made-up news pages for tests and benchmarks: an article with site chrome around it."""

from __future__ import annotations


def article_page(
    title: str, paragraphs: list[str], *, canonical: str | None = None, lang: str = "en"
) -> str:
    """A news page with site chrome around the article."""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html lang='{lang}'><head><title>{title} | Example News</title>"
        f"{link}<meta name='author' content='Jane Reporter'></head><body>"
        f"<header><nav><a href='/'>Home</a> <a href='/world'>World</a> "
        f"<a href='/sport'>Sport</a></nav></header>"
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        f"<aside><h3>Most read</h3><ul><li><a href='/x'>Another story</a></li></ul></aside>"
        f"<footer>Copyright Example News. All rights reserved.</footer></body></html>"
    )


def paragraphs(topic: str, n: int = 6) -> list[str]:
    """`n` distinct paragraphs about a topic, long enough to be extracted as an article."""
    return [
        f"{topic}: paragraph {i} reports what officials said on day {i}, with details that "
        f"analysts will want to read in full, and a quote number {i * 7} from the record."
        for i in range(n)
    ]
