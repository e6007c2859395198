"""A small stacked bar chart, laid out here and drawn as SVG by the template. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

# Dark enough for 3:1 against white (WCAG 1.4.11), told apart by more than hue alone
# thanks to the legend and each bar's title.
PALETTE = ("#0b57d0", "#a4161a", "#1d6b34", "#8a4b00", "#6f2da8", "#00707a", "#4a5360",
           "#b0006a")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass
class Chart:
    """Everything the template draws: bars, axis labels, legend; sizes in SVG units."""

    width: int
    height: int
    plot_left: int
    plot_bottom: int
    bars: list[Bar] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, int]] = field(default_factory=list)
    legend: list[tuple[str, str, int]] = field(default_factory=list)  # (name, color, total)
    total: int = 0


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above `value` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def stacked_days(counts: dict[tuple[date, str], int], first: date, days: int,
                 width: int = 720, height: int = 260) -> Chart:
    """One bar per day from `first`, stacked by series (`counts[(day, series)]`)."""
    left, right, top, bottom = 40, 8, 10, 28
    chart = Chart(width=width, height=height, plot_left=left, plot_bottom=height - bottom)
    series_totals: dict[str, int] = {}
    for (_day, name), n in counts.items():
        series_totals[name] = series_totals.get(name, 0) + n
    names = sorted(series_totals, key=lambda s: (-series_totals[s], s))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    chart.legend = [(name, colors[name], series_totals[name]) for name in names]
    chart.total = sum(series_totals.values())
    per_day = [sum(counts.get((first + timedelta(days=i), s), 0) for s in names)
               for i in range(days)]
    top_value = _nice_max(max(per_day, default=0))
    plot_h = height - top - bottom
    slot = (width - left - right) / days
    bar_w = max(1.0, slot * 0.7)
    for i in range(days):
        day = first + timedelta(days=i)
        x = left + i * slot + (slot - bar_w) / 2
        y = float(chart.plot_bottom)
        for name in names:
            n = counts.get((day, name), 0)
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            chart.bars.append(Bar(round(x, 2), round(y, 2), round(bar_w, 2), round(h, 2),
                                  colors[name], f"{day.isoformat()}: {n} × {name}"))
        if i % max(1, days // 6) == 0 or i == days - 1:
            chart.x_labels.append((round(left + i * slot + slot / 2, 2), day.strftime("%d %b")))
    for value in sorted({top_value * k // 4 for k in range(5)}):
        chart.y_ticks.append((round(chart.plot_bottom - plot_h * value / top_value, 2), value))
    return chart
