"""Horizontal bar charts drawn on the server, as inline SVG laid out here
and drawn by `templates/_chart.html` (no script, no outside source: the CSP
allows none). The survey results and the monthly report draw theirs alike."""

from __future__ import annotations

from dataclasses import dataclass, field

# The chart's geometry (SVG user units; the picture scales to the page's width).
CHART_WIDTH, LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT, BAR_HEIGHT = 720, 250, 330, 30, 20
LABEL_CHARS = 34


@dataclass(frozen=True)
class Bar:
    label: str
    short: str
    count: int
    percent: float
    y: int
    width: float  # > 0 whenever count > 0


@dataclass
class Chart:
    """One chart's bars, laid out for the template's <svg>."""

    key: str
    title: str
    bars: list[Bar] = field(default_factory=list)
    height: int = 0
    label_x: int = LABEL_WIDTH - 8
    bar_x: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT
    width: int = CHART_WIDTH


def short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1].rstrip() + "…"


def chart(key: str, title: str, rows: list[tuple[str, int, float]]) -> Chart:
    """Bars as long as their percentage (of those who answered the
    question, of the month's items); a bar with any count is at least a
    pixel wide."""
    bars = []
    for index, (label, count, percent) in enumerate(rows):
        width = round(BAR_WIDTH * percent / 100, 1)
        if count > 0:
            width = max(width, 1.0)
        bars.append(Bar(label=label, short=short(label), count=count, percent=percent,
                        y=index * ROW_HEIGHT + 4, width=width))
    return Chart(key=key, title=title, bars=bars, height=len(rows) * ROW_HEIGHT + 8)


def share_chart(key: str, title: str, counts: list[tuple[str, int]]) -> Chart:
    """Bars of counts as shares of their sum."""
    total = sum(count for _, count in counts)
    return chart(key, title, [(label, count, round(100 * count / total, 1) if total else 0.0)
                              for label, count in counts])
