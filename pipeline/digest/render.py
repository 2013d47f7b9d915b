"""Rendering a digest: subject, plain text and HTML (Jinja2, autoescaped), and its chart."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.config.settings import Settings
from pipeline.digest.chart import daily_chart
from pipeline.digest.model import COUNT_RULE, DigestModel

CHART_CID = "daily-chart"

# The templates live beside this package (pyproject.toml ships them as package data).
_LOADER = PackageLoader("pipeline.digest", "templates")
_ENV = Environment(
    loader=_LOADER,
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# The plain-text part must not be HTML-escaped: a separate environment without autoescape.
_TEXT_ENV = Environment(
    loader=_LOADER,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedDigest:
    """A digest ready to mail or preview."""

    week: str
    subject: str
    text: str
    html: str  # refers to the chart as cid:daily-chart
    standalone_html: str  # the chart embedded, for a browser
    chart_png: bytes | None


def subject_line(model: DigestModel, prefix: str) -> str:
    """The subject: the week and the stories per topic."""
    if model.empty:
        return f"{prefix} {model.week.label}: nothing new".strip()
    parts = ", ".join(f"{s.label} {s.count}" for s in model.sections if s.count)
    total = model.totals.get("stories", 0)
    stories = "story" if total == 1 else "stories"
    return f"{prefix} {model.week.label}: {total} {stories} ({parts})".strip()


def render(model: DigestModel, settings: Settings) -> RenderedDigest:
    """Subject, text and HTML of a digest."""
    days = model.week.days()
    labels = {s.topic: s.label for s in model.sections}
    chart = (
        None
        if model.empty
        else daily_chart(days, {t: model.daily.get(t, [0] * 7) for t in labels}, labels)
    )
    title = f"newswatch weekly digest {model.week.label}"
    context = {
        "title": title,
        "week_range": f"{days[0]:%a %d %b %Y} to {days[-1]:%a %d %b %Y} ({model.week.tz})",
        "empty": model.empty,
        "sections": model.sections,
        "totals": model.totals,
        "count_rule": COUNT_RULE,
        "failing": model.failing_feeds,
        "watchlist": model.watchlist,
        "generated": model.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
    }
    text = _TEXT_ENV.get_template("digest.txt.j2").render(**context)
    html_t = _ENV.get_template("digest.html.j2")
    html = html_t.render(**context, chart_src=f"cid:{CHART_CID}" if chart else None)
    standalone = html_t.render(
        **context,
        chart_src=("data:image/png;base64," + base64.b64encode(chart).decode()) if chart else None,
    )
    return RenderedDigest(
        model.week.label,
        subject_line(model, settings.digest.subject_prefix),
        text,
        html,
        standalone,
        chart,
    )
