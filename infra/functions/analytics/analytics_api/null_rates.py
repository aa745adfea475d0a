"""Rows and non-null values per column of a warehouse table over some partition days, for
``data_integrity_analysis``: from ``analytics.partition_stats`` (refreshed by every warehouse load,
see ``pipeline_defs/partition_stats.py``) for the days whose stored row count equals the live one,
counted from the table for the others (a load of another day moved rows out, or none stored).
"""

from __future__ import annotations

from datetime import date

from .registry import Context, fetch
from .templates import WAREHOUSE_TABLES, null_counts


def stored_stats(ctx: Context, p: dict) -> dict[tuple[str, date], dict] | None:
    (present,) = fetch(ctx, "SELECT to_regclass('analytics.partition_stats') IS NOT NULL AS present")
    if not present["present"]:
        return None
    rows = fetch(ctx, "SELECT table_name, partition, rows, non_null FROM analytics.partition_stats"
                      " WHERE partition BETWEEN %(start_date)s AND %(end_date)s", p)
    return {(r["table_name"], date.fromisoformat(r["partition"])): r for r in rows}


def non_null_counts(ctx: Context, table: str, live_rows: dict[date, int],
                    stored: dict[tuple[str, date], dict] | None) -> tuple[dict, int]:
    """({"rows": n, column: non-null values, ...}, days counted live) over the days in live_rows."""
    _, cols = WAREHOUSE_TABLES[table]
    totals = {"rows": 0, **{c: 0 for c in cols if c != "extra"}}
    live_days = []
    for day, rows in sorted(live_rows.items()):
        kept = (stored or {}).get((table, day))
        if kept is None or kept["rows"] != rows or set(kept["non_null"]) != set(totals) - {"rows"}:
            live_days.append(day)
            continue
        totals["rows"] += kept["rows"]
        for column, count in kept["non_null"].items():
            totals[column] += count
    if live_days:
        (counted,) = fetch(ctx, null_counts(table), {"days": live_days})
        for column, count in counted.items():
            totals[column] += count
    return totals, len(live_days)
