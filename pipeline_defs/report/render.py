"""Render the figures into the self-contained HTML page and its JSON twin.

Both come from the same figures dict; the HTML embeds its CSS and SVG charts, so the file can be
mailed, opened from S3 or from disk and still look the same (no network, no scripts).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline_defs.report.charts import events_by_type_svg, revenue_trend_svg

TEMPLATES = Path(__file__).parent / "templates"


def money(value, decimals: int = 2) -> str:
    return "–" if value is None else f"{value:,.{decimals}f}"


def integer(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def signed_pct(value) -> str:
    return "–" if value is None else f"{value:+.1f}%"


def kpi_value(kpi: dict) -> str:
    value = kpi["value"]
    if value is None:
        return "–"
    if kpi["format"] == "money":
        return f"{kpi['currency']} {value:,.0f}"
    if kpi["format"] == "ms":
        return f"{value:,.0f} ms"
    if kpi["format"] == "score":
        return f"{value:.1f} / 100"
    return integer(value)


def trend_class(kpi: dict) -> str:
    """CSS class for the day-over-day change: good, bad or flat (direction depends on the KPI)."""
    change = kpi["change_pct"]
    if change is None or abs(change) < 0.05:
        return "flat"
    return "good" if (change > 0) == kpi["higher_is_better"] else "bad"


def score_class(score) -> str:
    if score is None:
        return "none"
    return "good" if score >= 95 else "warn" if score >= 80 else "bad"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=money, integer=integer, signed_pct=signed_pct, kpi_value=kpi_value,
                       trend_class=trend_class, score_class=score_class)
    return env


def render_html(figures: dict, meta: dict) -> str:
    """The report page; ``meta`` carries generated_at, run_id and the S3 locations."""
    charts = {"revenue_trend": revenue_trend_svg(figures["revenue_trend"]),
              "events_by_type": events_by_type_svg(figures["web_events"])}
    day = date.fromisoformat(figures["date"])
    generated = datetime.fromisoformat(meta["generated_at"])
    return _environment().get_template("daily_report.html.j2").render(
        f=figures, meta=meta, charts=charts, long_date=f"{day:%A}, {day.day} {day:%B %Y}",
        generated_text=f"{generated:%Y-%m-%d %H:%M} UTC")


def render_json(figures: dict, meta: dict) -> str:
    return json.dumps({**figures, "meta": meta}, indent=2, ensure_ascii=False) + "\n"
