"""Catalogue and pattern operations: what is in the database, referral trees, event time series."""

from __future__ import annotations

from .params import Param, check_range, days_ago, today
from .registry import Context, fetch, operation
from .templates import SCHEMAS, row_counts, template


@operation("database_info", "Schemas, tables, columns, exact row counts and on-disk sizes of what the API reads.")
def database_info(ctx: Context, p: dict) -> dict:
    schemas = list(SCHEMAS)
    counts = {(r["schema"], r["table"]): r["rows"] for r in fetch(ctx, row_counts())}
    columns: dict[tuple[str, str], list[dict]] = {}
    for col in fetch(ctx, template("database_info_columns"), {"schemas": schemas}):
        columns.setdefault((col.pop("schema"), col.pop("table")), []).append(col)
    tables = []
    for t in fetch(ctx, template("database_info_tables"), {"schemas": schemas}):
        key = (t["schema"], t["table"])
        tables.append({**t, "rows": counts.get(key), "columns": columns.get(key, [])})
    return {
        "schemas": [{"name": s, "tables": sum(1 for t in tables if t["schema"] == s)} for s in schemas],
        "tables": tables,
        "total_size_bytes": sum(t["size_bytes"] for t in tables),
    }


@operation("simple_demo", "A small, fast sample answer: server time and version, customers and orders, the "
           "newest order and event.")
def simple_demo(ctx: Context, p: dict) -> dict:
    (row,) = fetch(ctx, template("simple_demo"))
    return row


@operation("referral_network", "Referral trees over customers.referred_by (recursive CTE): how deep they go, how "
           "many customers each root brought in, and customers caught in referral cycles.",
           params=(Param("max_depth", "integer", "Deepest referral level followed.", default=10, minimum=1, maximum=50),
                   Param("top_n", "integer", "How many ranks of the largest networks to list.", default=10,
                         minimum=1, maximum=100)),
           datasets=("customers",))
def referral_network(ctx: Context, p: dict) -> dict:
    (row,) = fetch(ctx, template("referral_network"), p)
    summary = {k: row[k] for k in ("customers", "referred", "unknown_referrers", "reached", "networks", "max_depth",
                                   "truncated_at_max_depth")}
    summary["in_cycles"] = row["customers"] - row["reached"]
    return {"summary": summary, "depth_distribution": row["depth_distribution"], "top_networks": row["top_networks"]}


def _check_series(p: dict) -> None:
    check_range(p, "start_date", "end_date", 366)


@operation("time_series_patterns", "Web events per hour: the hour-of-day and weekday profile and hours whose "
           "count is an outlier (|z-score| >= z_threshold against all hours in the range, empty hours as 0).",
           params=(Param("start_date", "date", "First day (UTC).", default=days_ago(29),
                         default_doc="29 days before today (30 days up to today)"),
                   Param("end_date", "date", "Last day (UTC), inclusive; at most 366 days after start_date.",
                         default=today, default_doc="today (UTC)"),
                   Param("event_type", "choice", "Only events of this type. Default: all.",
                         choices=("page_view", "purchase", "user_signup", "click", "error")),
                   Param("z_threshold", "number", "How many standard deviations make an hour an anomaly.",
                         default=3.0, minimum=0.5, maximum=10)),
           datasets=("web_events",), check=_check_series)
def time_series_patterns(ctx: Context, p: dict) -> dict:
    (row,) = fetch(ctx, template("time_series_patterns"), p)
    return {"summary": row["summary"], "by_hour_of_day": row["by_hour_of_day"], "by_weekday": row["by_weekday"],
            "anomalies": row["anomalies"]}
