"""Sales operations: customer segmentation, revenue over time, multi-dimensional roll-ups."""

from __future__ import annotations

from .params import Param, check_range, days_ago, today
from .registry import COUNTRY, CURRENCY, REVENUE_STATUSES, Context, fetch, operation
from .templates import template

START = Param("start_date", "date", "First day (UTC) of orders counted.", default=days_ago(364),
              default_doc="364 days before end_date's default (one year up to today)")
END = Param("end_date", "date", "Last day (UTC) of orders counted, inclusive.", default=today, default_doc="today (UTC)")
TOP_N = Param("top_n", "integer", "How many ranks of products and customers per currency.", default=10,
              minimum=1, maximum=100)
SEGMENT = Param("segment", "choice", "Only customers of this segment. Default: all.",
                choices=("enterprise", "smb", "consumer"))
MAX_RANGE_DAYS = 3660


@operation("customer_analysis", "Customer segmentation: segment x country with customers, orders, revenue per "
           "currency and average order value, over customers with at least min_orders revenue orders (paid, "
           "shipped, delivered).",
           params=(Param("min_orders", "integer", "Minimum revenue orders a customer needs to be counted (HAVING).",
                         default=1, minimum=1, maximum=10_000), SEGMENT, COUNTRY),
           datasets=("customers", "orders"))
def customer_analysis(ctx: Context, p: dict) -> dict:
    groups = fetch(ctx, template("customer_analysis"), {**p, "statuses": REVENUE_STATUSES})
    return {
        "summary": {"groups": len(groups), "customers": sum(g["customers"] for g in groups),
                    "orders": sum(g["orders"] for g in groups)},
        "segments": groups,
    }


def _check_revenue(p: dict) -> None:
    check_range(p, "start_date", "end_date", MAX_RANGE_DAYS)


@operation("revenue_analysis", "Monthly revenue per currency with running totals and month-over-month growth, "
           "and the top products and customers by revenue (RANK) in the date range.",
           params=(START, END, TOP_N, CURRENCY), datasets=("orders", "products", "customers"), check=_check_revenue)
def revenue_analysis(ctx: Context, p: dict) -> dict:
    bound = {**p, "statuses": REVENUE_STATUSES}
    monthly = fetch(ctx, template("revenue_monthly"), bound)
    totals: dict[str, dict] = {}
    for row in monthly:
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "orders": 0, "revenue": 0.0})
        total["orders"] += row["orders"]
        total["revenue"] = row["running_total"]
    return {
        "totals": list(totals.values()),
        "monthly": monthly,
        "top_products": fetch(ctx, template("revenue_top_products"), bound),
        "top_customers": fetch(ctx, template("revenue_top_customers"), bound),
    }


LEVELS = {0: "category+country+month", 1: "category+country", 3: "category", 5: "country", 6: "month", 7: "total"}


@operation("multi_dimensional_analytics", "Orders, units and revenue per currency rolled up with GROUPING SETS "
           "over product category x customer country x month, for the timeframe ending end_date.",
           params=(Param("timeframe", "timeframe", 'How far back from end_date, e.g. "90 days", "12 months", "2 years".',
                         default="12 months"),
                   Param("end_date", "date", "Last day (UTC) of the window, inclusive.", default=today,
                         default_doc="today (UTC)"),
                   CURRENCY),
           datasets=("orders", "products", "customers"))
def multi_dimensional_analytics(ctx: Context, p: dict) -> dict:
    bound = {**p, "statuses": REVENUE_STATUSES}
    (window,) = fetch(ctx, template("window_bounds"), bound)
    rows = fetch(ctx, template("multi_dimensional"), bound)
    for row in rows:
        row["level"] = LEVELS[row.pop("grouping")]
    return {"window": {"start_date": window["since"], "end_date": p["end_date"].isoformat()},
            "levels": list(LEVELS.values()), "rows": rows}
