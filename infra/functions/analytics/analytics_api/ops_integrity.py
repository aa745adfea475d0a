"""``data_integrity_analysis``: a quality score per table for the partitions in a date range.

Per table: rows, quarantined rows, null rates per contract column, orphan references, order total
mismatches, candidate duplicate customers (pg_trgm when installed, else exact normalised
matching — the answer says which), and the cross-system counts.

score = 100 x (1 - (flagged + quarantined) / (rows + quarantined)), where flagged rows are orphans,
total mismatches, items stored in another partition than their order, or customers in a candidate
duplicate pair; quarantine counts against the dataset's main table.
"""

from __future__ import annotations

from datetime import date, timedelta

from pipeline_defs.contracts import CONTRACTS

from .crosscheck import cross_system
from .duplicates import duplicates, examples
from .params import Param, check_range, days_ago, today
from .registry import Context, fetch, operation
from .null_rates import non_null_counts, stored_stats
from .templates import WAREHOUSE_TABLES, partition_counts, template

MAX_DAYS = 31
MAX_EXAMPLES = 20


def _check(p: dict) -> None:
    check_range(p, "start_date", "end_date", MAX_DAYS)


@operation("data_integrity_analysis", "Quality score per warehouse table for the partitions in the range: null "
           "rates, orphans, order total mismatches, candidate duplicate customers (fuzzy name/email matching), "
           "and counts across the warehouse, load audit, Parquet lake, processing state, DynamoDB aggregates and "
           "real-time metrics.",
           params=(Param("start_date", "date", "First partition day.", default=days_ago(6),
                         default_doc="6 days before today (7 days up to today)"),
                   Param("end_date", "date", f"Last partition day, inclusive; at most {MAX_DAYS} days after start_date.",
                         default=today, default_doc="today (UTC)"),
                   Param("name_similarity", "number", "Trigram similarity of full names for a duplicate candidate.",
                         default=0.6, minimum=0.1, maximum=1),
                   Param("email_similarity", "number", "Trigram similarity of email local parts for a duplicate "
                         "candidate (equal normalised emails always match).", default=0.7, minimum=0.1, maximum=1)),
           check=_check, needs_aws=True)
def data_integrity_analysis(ctx: Context, p: dict) -> dict:
    (checks,) = fetch(ctx, template("integrity_checks"), p)
    method, source, pairs = duplicates(ctx, p)
    in_range = {r["customer_id"] for r in fetch(ctx, "SELECT customer_id FROM warehouse.customers"
                                                " WHERE _partition BETWEEN %(start_date)s AND %(end_date)s", p)}
    duplicate_customers = {c for pair in pairs for c in (pair["customer_id"], pair["duplicate_of"]) if c in in_range}
    audit_rows = fetch(ctx, template("integrity_counts"), p)
    quarantined: dict[str, int] = {}
    for r in audit_rows:
        quarantined[r["dataset"]] = quarantined.get(r["dataset"], 0) + r["rows_quarantined"]

    flagged = {"orders": checks["orders_flagged"], "order_items": checks["order_items_flagged"],
               "customers": len(duplicate_customers) + checks["customers_referred_by"]}
    orphans = {"orders": {"customer_id": checks["orders_customer_id"]},
               "order_items": {"sku": checks["order_items_sku"], "order_id": checks["order_items_order_id"]},
               "customers": {"referred_by": checks["customers_referred_by"]}}
    per_partition = fetch(ctx, partition_counts(), p)
    stored = stored_stats(ctx, p)
    counted_live = 0
    tables = []
    for table, (dataset, _) in WAREHOUSE_TABLES.items():
        live_rows = {_day(r["day"]): r["rows"] for r in per_partition if r["table"] == table}
        counts, live_days = non_null_counts(ctx, table, live_rows, stored)
        counted_live += live_days
        rows = counts.pop("rows")
        rejected = quarantined.get(dataset, 0) if CONTRACTS[dataset].table == table else 0
        bad = flagged.get(table, 0)
        denominator = rows + rejected
        tables.append({
            "table": table, "dataset": dataset, "rows": rows, "quarantined": rejected,
            "null_rates": {c: round(1 - n / rows, 4) if rows else None for c, n in counts.items()},
            "orphans": orphans.get(table, {}),
            **({"total_mismatches": checks["orders_total_mismatch"]} if table == "orders" else {}),
            # an order's items are loaded with it, so they share its partition; these broke that rule
            **({"outside_order_partition": checks["order_items_other_partition"]} if table == "order_items" else {}),
            **({"duplicate_customers": len(duplicate_customers)} if table == "customers" else {}),
            "flagged_rows": bad,
            "quality_score": round(100 * (1 - (bad + rejected) / denominator), 2) if denominator else None,
        })

    days = [p["start_date"] + timedelta(days=n) for n in range((p["end_date"] - p["start_date"]).days + 1)]
    main_tables = {name: c.table for name, c in CONTRACTS.items()}
    table_dataset = {t: ds for ds, t in main_tables.items()}
    warehouse = {(table_dataset[r["table"]], _day(r["day"])): r["rows"]
                 for r in per_partition if r["table"] in table_dataset}
    audit = {(r["dataset"], _day(r["day"])): r["rows_loaded"] for r in audit_rows}
    crosscheck = cross_system(ctx.aws, warehouse, audit, main_tables, days) if ctx.aws else {
        "rows": [], "unavailable": {"aws": "not configured"}}
    return {
        "fuzzy_matching": method,
        "fuzzy_matching_note": None if method == "pg_trgm" else
        "pg_trgm is not installed: duplicates are exact matches of normalised names and emails",
        "tables": tables,
        "null_rates_source": {"table": "analytics.partition_stats" if stored is not None else None,
                              "partitions_counted_live": counted_live},
        "duplicate_candidates": {"pairs": len(pairs), "examples": examples(ctx, pairs[:MAX_EXAMPLES]),
                                 "source": source},
        "cross_system": crosscheck,
    }


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
