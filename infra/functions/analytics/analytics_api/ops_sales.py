"""Sales operations: customer segmentation, revenue over time, multi-dimensional roll-ups."""

from __future__ import annotations

from .params import Param, check_range, days_ago, today
from .registry import COUNTRY, CURRENCY, REVENUE_STATUSES, Context, fetch, operation
from .rollups import SOURCE_DOC, sales_state, source, split_months
from .templates import template

START = Param("start_date", "date", "First day (UTC) of orders counted.", default=days_ago(364),
              default_doc="364 days before end_date's default (one year up to today)")
END = Param("end_date", "date", "Last day (UTC) of orders counted, inclusive.", default=today, default_doc="today (UTC)")
TOP_N = Param("top_n", "integer", "How many ranks of products and customers per currency.", default=10,
              minimum=1, maximum=100)
SEGMENT = Param("segment", "choice", "Only customers of this segment. Default: all.",
                choices=("enterprise", "smb", "consumer"))
MAX_RANGE_DAYS = 3660
SEEDS_PER_RANK = 5  # top customers: seeds per rank asked for (at least MIN_SEEDS)
MIN_SEEDS = 50
MAX_CANDIDATES = 5000  # more candidates than this: rank every customer in the range instead


@operation("customer_analysis", "Customer segmentation: segment x country with customers, orders, revenue per "
           "currency and average order value, over customers with at least min_orders revenue orders (paid, "
           "shipped, delivered). " + SOURCE_DOC,
           params=(Param("min_orders", "integer", "Minimum revenue orders a customer needs to be counted (HAVING).",
                         default=1, minimum=1, maximum=10_000), SEGMENT, COUNTRY),
           datasets=("customers", "orders"))
def customer_analysis(ctx: Context, p: dict) -> dict:
    state = sales_state(ctx, REVENUE_STATUSES)
    groups = fetch(ctx, template("customer_analysis_rollup" if state else "customer_analysis"),
                   {**p, "statuses": REVENUE_STATUSES})
    return {
        "summary": {"groups": len(groups), "customers": sum(g["customers"] for g in groups),
                    "orders": sum(g["orders"] for g in groups)},
        "segments": groups,
        "source": source(state, ["customer_revenue"], ["orders"]),
    }


def _check_revenue(p: dict) -> None:
    check_range(p, "start_date", "end_date", MAX_RANGE_DAYS)


@operation("revenue_analysis", "Monthly revenue per currency with running totals and month-over-month growth, "
           "and the top products and customers by revenue (RANK) in the date range. " + SOURCE_DOC,
           params=(START, END, TOP_N, CURRENCY), datasets=("orders", "products", "customers"), check=_check_revenue)
def revenue_analysis(ctx: Context, p: dict) -> dict:
    bound = {**p, "statuses": REVENUE_STATUSES}
    state = sales_state(ctx, REVENUE_STATUSES)
    if state:
        monthly = fetch(ctx, template("revenue_monthly_rollup"), {**bound, **split_months(p["start_date"], p["end_date"])})
    else:
        monthly = fetch(ctx, template("revenue_monthly"), bound)
    totals: dict[str, dict] = {}
    for row in monthly:
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "orders": 0, "revenue": 0.0})
        total["orders"] += row["orders"]
        total["revenue"] = row["running_total"]
    return {
        "totals": list(totals.values()),
        "monthly": monthly,
        "top_products": fetch(ctx, template("revenue_top_products_rollup" if state else "revenue_top_products"), bound),
        "top_customers": top_customers(ctx, bound) if state else fetch(
            ctx, template("revenue_top_customers"), {**bound, "candidates": None}),
        "source": source(state, ["revenue_monthly", "product_revenue_daily", "customer_revenue"],
                         ["orders", "order_items"]),
    }


def top_customers(ctx: Context, bound: dict) -> list[dict]:
    """revenue_top_customers.sql over a candidate set that holds everyone who can rank in the top N.

    Revenue is never negative, so a customer's revenue in the range is at most their all-time
    revenue (analytics.customer_revenue). Rank the seeds (best all-time) in the range; the N-th
    best of them per currency is a bar: a customer whose all-time revenue is below it has at least
    N customers ahead in the range. The candidates are everyone at or above the bar, so the ranks
    up to N are exact. Without a bar for every currency, or with too many candidates, every
    customer in the range is ranked.
    """
    n = bound["top_n"]
    seeds = [r["customer_id"] for r in fetch(ctx, template("revenue_top_customers_seed"),
                                             {**bound, "seeds": max(MIN_SEEDS, SEEDS_PER_RANK * n)})]
    everyone = {**bound, "candidates": None}
    if not seeds:
        return fetch(ctx, template("revenue_top_customers"), everyone)
    bars: dict[str, tuple[int, float]] = {}
    for row in fetch(ctx, template("revenue_top_customers"), {**bound, "candidates": seeds}):
        count, bar = bars.get(row["currency"], (0, row["revenue"]))
        bars[row["currency"]] = (count + 1, min(bar, row["revenue"]))
    (seeded,) = fetch(ctx, "SELECT count(DISTINCT currency) AS n FROM analytics.customer_revenue"
                           " WHERE customer_id = ANY(%(seeds)s)", {"seeds": seeds})
    if len(bars) < seeded["n"] or any(count < n for count, _ in bars.values()):
        return fetch(ctx, template("revenue_top_customers"), everyone)
    currencies = sorted(bars)
    candidates = [r["customer_id"] for r in fetch(ctx, template("revenue_top_customers_candidates"), {
        "currencies": currencies, "limit": MAX_CANDIDATES,
        "bars": [bars[c][1] - 0.01 for c in currencies]})]  # the ranked revenue is rounded to cents
    if len(candidates) > MAX_CANDIDATES:
        return fetch(ctx, template("revenue_top_customers"), everyone)
    return fetch(ctx, template("revenue_top_customers"), {**bound, "candidates": sorted(set(candidates))})


LEVELS = {0: "category+country+month", 1: "category+country", 3: "category", 5: "country", 6: "month", 7: "total"}


@operation("multi_dimensional_analytics", "Orders, units and revenue per currency rolled up with GROUPING SETS "
           "over product category x customer country x month, for the timeframe ending end_date. " + SOURCE_DOC,
           params=(Param("timeframe", "timeframe", 'How far back from end_date, e.g. "90 days", "12 months", "2 years".',
                         default="12 months"),
                   Param("end_date", "date", "Last day (UTC) of the window, inclusive.", default=today,
                         default_doc="today (UTC)"),
                   CURRENCY),
           datasets=("orders", "products", "customers"))
def multi_dimensional_analytics(ctx: Context, p: dict) -> dict:
    bound = {**p, "statuses": REVENUE_STATUSES}
    state = sales_state(ctx, REVENUE_STATUSES)
    (window,) = fetch(ctx, template("window_bounds"), bound)
    rows = fetch(ctx, template("multi_dimensional_rollup" if state else "multi_dimensional"), bound)
    for row in rows:
        row["level"] = LEVELS[row.pop("grouping")]
    return {"window": {"start_date": window["since"], "end_date": p["end_date"].isoformat()},
            "levels": list(LEVELS.values()), "rows": rows,
            "source": source(state, ["sales_daily", "sales_daily_category"],
                             ["orders", "order_items", "products", "customers"])}
