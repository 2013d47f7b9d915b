"""A small PNG chart of stories per day and topic for the digest (matplotlib, no display)."""

from __future__ import annotations

import io
from datetime import date
from typing import Sequence

_COLOURS = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#566573"]


def daily_chart(days: Sequence[date], series: dict[str, list[int]],
                labels: dict[str, str]) -> bytes:
    """PNG bytes of a grouped bar chart: one group per day, one bar per topic."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory only
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 2.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    topics = list(series)
    width = 0.8 / max(1, len(topics))
    for i, topic in enumerate(topics):
        xs = [d + (i - (len(topics) - 1) / 2) * width for d in range(len(days))]
        ax.bar(xs, series[topic], width=width, label=labels.get(topic, topic),
               color=_COLOURS[i % len(_COLOURS)])
    ax.set_xticks(range(len(days)))
    ax.set_xticklabels([d.strftime("%a %d") for d in days], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if topics:
        ax.legend(fontsize=7, frameon=False, ncol=min(3, len(topics)), loc="upper left")
    ax.set_ylabel("stories", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
