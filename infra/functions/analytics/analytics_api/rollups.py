"""Reading the sales rollups (``analytics.*``, refreshed after the warehouse loads by the
``analytics/sales_rollups`` asset, see ``pipeline_defs/rollups.py``): whether they can answer,
what an answer says about its source, and how a date range splits into whole months (read from
rollups) and partial months at its ends.

Operations that read them put ``source`` in their data (``SOURCE_DOC``): ``{"kind": "rollup",
"tables": [...], "refreshed_at": ..., "stale": ..., "stale_days": [...]}``, or ``{"kind": "live", ...}``
with ``stale: false`` when the rollups are missing or count other statuses as revenue (then they read
the warehouse tables as before). ``stale_days`` are the load days (partitions) of orders, customers or
products whose latest loads the rollups have not absorbed yet (``sql/rollup_state.sql``); a load of
one day can move figures of other days (a late order, a customer's new country), so every rollup
answer lists them all, whatever its date range.
"""

from __future__ import annotations

from datetime import date, timedelta

from .registry import Context, fetch
from .templates import template


SOURCE_DOC = ("data.source tells where the figures come from: kind rollup (analytics.*) or live (warehouse.*); "
              "stale is true and stale_days lists the load days whose latest warehouse loads the rollups have not "
              "absorbed yet (always false and empty for live).")


def sales_state(ctx: Context, statuses: list[str]) -> dict | None:
    """The rollups' refresh state, or None when they cannot answer for these revenue statuses."""
    (present,) = fetch(ctx, "SELECT to_regclass('analytics.rollup_state') IS NOT NULL"
                            " AND to_regclass('analytics.rollup_coverage') IS NOT NULL AS present")
    if not present["present"]:
        return None
    rows = fetch(ctx, template("rollup_state"))
    if not rows or sorted(rows[0]["revenue_statuses"]) != sorted(statuses):
        return None
    return rows[0]


def source(state: dict | None, rollup_tables: list[str], live_tables: list[str]) -> dict:
    if state is None:
        return {"kind": "live", "tables": [f"warehouse.{t}" for t in live_tables], "stale": False, "stale_days": []}
    return {"kind": "rollup", "tables": [f"analytics.{t}" for t in rollup_tables],
            "refreshed_at": state["refreshed_at"], "stale": bool(state["stale_days"]),
            "stale_days": state["stale_days"]}


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def split_months(start: date, end: date) -> dict:
    """[start, end] as the whole months inside it and the day ranges (end exclusive) left over."""
    full, edge_lo, edge_hi = [], [], []
    month = start.replace(day=1)
    while month <= end:
        following = _next_month(month)
        lo, hi = max(month, start), min(following, end + timedelta(days=1))
        if (lo, hi) == (month, following):
            full.append(month)
        else:
            edge_lo.append(lo)
            edge_hi.append(hi)
        month = following
    return {"full_months": full, "edge_lo": edge_lo, "edge_hi": edge_hi}
