"""analytics.partition_stats (pipeline_defs/partition_stats.py): data_integrity_analysis's null rates
come from the stats the loads left, equal the warehouse's, and a partition whose rows changed
outside its own load is counted live."""

from __future__ import annotations

import psycopg

from pipeline_defs.partition_stats import rebuild
from tests.functions.analytics_fixtures import execute, seeded_api, seeded_template, sql  # noqa: F401

RANGE = {"start_date": "2026-11-18", "end_date": "2026-11-20"}


def null_rates(api) -> tuple[dict, dict]:
    _, _, body = api.get("data_integrity_analysis", **RANGE)
    data = body["data"]
    return data["null_rates_source"], {t["table"]: (t["rows"], t["null_rates"]) for t in data["tables"]}


def expected(url: str, table: str, column: str) -> tuple[int, float]:
    rows, nulls = sql(url, f"""SELECT count(*), count(*) - count({column}) FROM warehouse.{table}
                               WHERE _partition BETWEEN '2026-11-18' AND '2026-11-20'""")[0]
    return rows, round(nulls / rows, 4)


def test_null_rates_from_the_loads_stats_equal_the_warehouse(seeded_api):
    url = seeded_api.database_url
    source, got = null_rates(seeded_api)
    assert source == {"table": "analytics.partition_stats", "partitions_counted_live": 0}
    for table, column in [("customers", "company"), ("orders", "channel"), ("web_events", "session_id"),
                          ("order_items", "sku")]:
        rows, rate = expected(url, table, column)
        assert got[table][0] == rows and got[table][1][column] == rate
    # a row leaves 2026-11-19 for another day (as a later version loaded elsewhere would take it)
    execute(url, """UPDATE warehouse.customers SET _partition = '2026-11-01'
                    WHERE customer_id = (SELECT min(customer_id) FROM warehouse.customers WHERE _partition = '2026-11-19')""")
    seeded_api.event({"dataset": "customers", "partition": "2026-11-01"})
    source, got = null_rates(seeded_api)
    assert source["partitions_counted_live"] == 1
    assert got["customers"] == (expected(url, "customers", "company")[0], got["customers"][1])
    assert got["customers"][1]["company"] == expected(url, "customers", "company")[1]
    with psycopg.connect(url) as conn:  # a rebuild brings the stats back in line
        rebuild(conn)
    seeded_api.event({"dataset": "customers", "partition": "2026-11-01"})
    source, again = null_rates(seeded_api)
    assert source["partitions_counted_live"] == 0 and again == got
