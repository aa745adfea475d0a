"""The report's charts as inline SVG (matplotlib, no pyplot state, no files, no external assets).

Text stays text (``svg.fonttype: none``) so the page is light and searchable; a fixed hash salt and
no date metadata make the SVG identical on every re-run. A chart with nothing to show returns None
and the template says so in words instead of drawing an empty frame.
"""

from __future__ import annotations

import io
import math
from datetime import date

import matplotlib
from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend needed
from matplotlib.ticker import FuncFormatter, MaxNLocator

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#db2777", "#7c3aed", "#0891b2")
DEVICE_COLOURS = {"desktop": "#2563eb", "mobile": "#16a34a", "tablet": "#f59e0b", "unknown": "#9ca3af"}
INK, MUTED, GRID = "#111827", "#6b7280", "#e5e7eb"


def _style(name: str) -> dict:
    return {"svg.fonttype": "none", "svg.hashsalt": f"daily-report-{name}",
            "font.family": "sans-serif", "font.sans-serif": ["Helvetica", "Arial", "DejaVu Sans"],
            "font.size": 9, "axes.edgecolor": GRID, "axes.labelcolor": MUTED,
            "xtick.color": MUTED, "ytick.color": MUTED, "axes.spines.top": False, "axes.spines.right": False}


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", transparent=True)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: drop the XML prolog and doctype


def _thousands(value: float, _pos=None) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,.0f}"


def revenue_trend_svg(trend: dict) -> str | None:
    """Daily revenue per currency over the trend window; gaps where aggregates were never computed."""
    series = trend["revenue"]
    values = [v for points in series.values() for v in points if v is not None]
    if not values or not any(values):
        return None
    days = [date.fromisoformat(d) for d in trend["days"]]
    with matplotlib.rc_context(_style("trend")):
        fig = Figure(figsize=(9.4, 3.0))
        ax = fig.add_subplot()
        for colour, (currency, points) in zip(PALETTE, series.items()):
            ys = [math.nan if v is None else v for v in points]
            ax.plot(days, ys, color=colour, linewidth=2, marker="o", markersize=3, label=currency)
            if ys[-1] == ys[-1]:  # not NaN: mark the report's day
                ax.plot(days[-1:], ys[-1:], color=colour, marker="o", markersize=7)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_ylim(bottom=0)
        ticks = days[::-7][::-1]  # weekly ticks ending on the report's day
        ax.set_xticks(ticks, [d.strftime("%b %d") for d in ticks])
        ax.grid(axis="y", color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", frameon=False, ncols=len(series), fontsize=9)
        ax.set_ylabel("revenue per day")
        return _svg(fig)


def events_by_type_svg(web: dict) -> str | None:
    """Web events per type, stacked by device, most frequent type on top."""
    by_type_device: dict[str, dict[str, int]] = web["by_type_device"]
    if not web["total"]:
        return None
    types = list(by_type_device)[::-1]  # barh draws bottom-up; keep the biggest on top
    devices = [d for d in DEVICE_COLOURS if any(d in by_type_device[t] for t in types)]
    devices += sorted({d for t in types for d in by_type_device[t]} - set(devices))
    with matplotlib.rc_context(_style("events")):
        fig = Figure(figsize=(9.4, 0.6 + 0.4 * len(types)))
        ax = fig.add_subplot()
        left = [0] * len(types)
        for device in devices:
            widths = [by_type_device[t].get(device, 0) for t in types]
            ax.barh(types, widths, left=left, color=DEVICE_COLOURS.get(device, "#9ca3af"), height=0.62, label=device)
            left = [a + b for a, b in zip(left, widths)]
        for y, total in enumerate(left):
            ax.text(total, y, f"  {total:,}", va="center", color=INK, fontsize=9)
        ax.set_xlim(0, max(left) * 1.12)
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.tick_params(axis="y", length=0, labelcolor=INK)
        ax.grid(axis="x", color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncols=len(devices), fontsize=9)
        return _svg(fig)
