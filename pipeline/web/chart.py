"""A story's timeline as an inline SVG bar chart (pure: numbers in, markup out, no script)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 120, 18


@dataclass(frozen=True)
class Bucket:
    """Reports stored in one hour or one day."""

    start: datetime
    reports: int


def buckets(times: Sequence[datetime], *, max_hours: int = 72) -> tuple[str, list[Bucket]]:
    """Reports per hour when the story spans up to `max_hours`, else per day; empty buckets
    included so gaps show."""
    if not times:
        return "hour", []
    first, last = min(times), max(times)
    hourly = last - first <= timedelta(hours=max_hours)
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def floor(t: datetime) -> datetime:
        t = t.replace(minute=0, second=0, microsecond=0)
        return t if hourly else t.replace(hour=0)

    counts = Counter(floor(t) for t in times)
    out = []
    at = floor(first)
    while at <= floor(last):
        out.append(Bucket(at, counts.get(at, 0)))
        at += step
    return ("hour" if hourly else "day"), out


def timeline_svg(unit: str, points: Sequence[Bucket]) -> Markup:
    """Bars of reports per bucket, with the first and last bucket labelled."""
    if not points:
        return Markup("")
    top = max(p.reports for p in points) or 1
    n = len(points)
    bar = (WIDTH - 2 * PAD) / n
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="reports per {escape(unit)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, p in enumerate(points):
        h = (HEIGHT - 2 * PAD) * p.reports / top
        x = PAD + i * bar
        y = HEIGHT - PAD - h
        label = f"{p.start:%Y-%m-%d %H:00}" if unit == "hour" else f"{p.start:%Y-%m-%d}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {p.reports} report{'s' if p.reports != 1 else ''}</title>"
            "</rect>"
        )
    fmt = "%d %b %H:00" if unit == "hour" else "%d %b"
    parts.append(
        f'<text x="{PAD}" y="{HEIGHT - 4}">{escape(points[0].start.strftime(fmt))}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" text-anchor="end">'
        f"{escape(points[-1].start.strftime(fmt))}</text>"
        f'<text x="{PAD}" y="{PAD - 6}">max {top} per {escape(unit)}</text></svg>'
    )
    return Markup("".join(parts))
