"""A small PNG chart of stories per day and topic for the digest (matplotlib, no display)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.figure import Figure

_COLOURS = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#566573"]
_WIDTH_IN, _HEIGHT_IN, _DPI = 6.0, 2.2, 100
_LEGEND_ROW_IN = 0.2  # the height one more row of legend needs


def daily_chart(
    days: Sequence[date], series: dict[str, list[int]], labels: dict[str, str]
) -> bytes:
    """PNG bytes of a grouped bar chart: one group per day, one bar per topic."""
    buf = io.BytesIO()
    chart_figure(days, series, labels).savefig(buf, format="png")
    return buf.getvalue()


def chart_figure(
    days: Sequence[date], series: dict[str, list[int]], labels: dict[str, str]
) -> Figure:
    """The daily chart as a matplotlib Figure on an Agg canvas (savefig renders it)."""
    # matplotlib takes ~0.2 s to import: only a digest with a chart pays for it.
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory only
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # Constrained layout keeps room for a legend outside the axes, which tight_layout does not.
    fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    topics = list(series)
    width = 0.8 / max(1, len(topics))
    for i, topic in enumerate(topics):
        xs = [d + (i - (len(topics) - 1) / 2) * width for d in range(len(days))]
        ax.bar(
            xs,
            series[topic],
            width=width,
            label=labels.get(topic, topic),
            color=_COLOURS[i % len(_COLOURS)],
        )
    ax.set_xticks(range(len(days)))
    ax.set_xticklabels([d.strftime("%a %d") for d in days], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    locator = ax.yaxis.get_major_locator()
    # The default y locator (AutoLocator) is a MaxNLocator: whole numbers of stories only.
    assert isinstance(locator, MaxNLocator)
    locator.set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if topics:
        _legend_above(fig, canvas.get_renderer(), len(topics))
    ax.set_ylabel("stories", fontsize=8)
    return fig


def _legend_above(fig: Figure, renderer: RendererAgg, entries: int) -> None:
    """Put the legend above the plot, in as many columns as fit the width, never over a bar."""
    # Topic labels are the user's and can be long: take the most columns whose row fits the
    # figure, and make the figure taller by the extra rows so that the bars keep their height.
    for ncol in range(entries, 0, -1):
        legend = fig.legend(loc="outside upper center", ncol=ncol, fontsize=7, frameon=False)
        if ncol == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width * 0.98:
            break
        legend.remove()
    rows = math.ceil(entries / ncol)
    fig.set_figheight(_HEIGHT_IN + (rows - 1) * _LEGEND_ROW_IN)
