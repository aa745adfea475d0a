"""aggregates/*: figures in DynamoDB equal SQL written independently here, re-runs are idempotent,
stale items disappear, empty days are explicit, unprocessed batch writes are retried.

Real PostgreSQL and moto; the seeded day goes through the real batch assets first.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timezone
from decimal import Decimal

import boto3
import pytest

from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.aggregates.store import replace_partition, to_item
from pipeline_defs.dynamo import UnprocessedItemsError, batch_write
from tests.assets.test_aggregates_helpers import items, load_day, materialize_aggregates, query, scan_aggregates

DAY = date(2026, 11, 20)
EMPTY_DAY = date(2026, 11, 10)
UTC_DAY = "(%s AT TIME ZONE 'UTC')::date = %%s"  # an independent formulation of "on that UTC day"


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what PostgreSQL's percentile_cont does)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_aggregates_match_independent_sql(pipeline_env, database_url):
    load_day(pipeline_env, DAY)
    materialize_aggregates(pipeline_env, DAY)
    url = database_url

    # revenue by currency and channel: paid/shipped/delivered orders of the day
    expected = {f"{c}#{ch or 'unknown'}": (n, total) for c, ch, n, total in query(url, f"""
        SELECT currency, channel, count(*), sum(total_amount) FROM warehouse.orders
        WHERE {UTC_DAY % 'order_ts'} AND status IN ('paid', 'shipped', 'delivered') GROUP BY 1, 2""", DAY)}
    revenue = items(pipeline_env, f"revenue#{DAY}")
    assert {sk: (i["orders"], i["revenue"]) for sk, i in revenue.items()} == expected
    assert len(expected) >= 6

    # orders and average order value
    orders = items(pipeline_env, f"orders#{DAY}")
    (count, customers), = query(url, f"SELECT count(*), count(DISTINCT customer_id) FROM warehouse.orders"
                                     f" WHERE {UTC_DAY % 'order_ts'}", DAY)
    assert (orders["total"]["orders"], orders["total"]["customers"]) == (count, customers) and count > 250
    (units,), = query(url, f"SELECT sum(quantity) FROM warehouse.order_items i JOIN warehouse.orders o USING (order_id)"
                           f" WHERE {UTC_DAY % 'o.order_ts'}", DAY)
    assert orders["total"]["units"] == units
    for currency, (total, n) in {c: (t, n) for c, t, n in query(url, f"""
            SELECT currency, sum(total_amount), count(*) FROM warehouse.orders
            WHERE {UTC_DAY % 'order_ts'} AND status NOT IN ('pending', 'cancelled', 'refunded') GROUP BY 1""",
                                                              DAY)}.items():
        item = orders[f"currency#{currency}"]
        assert item["revenue"] == total and item["revenue_orders"] == n
        assert item["aov"] == (total / n).quantize(Decimal("0.0001"))
    statuses = dict(query(url, f"SELECT status, count(*) FROM warehouse.orders WHERE {UTC_DAY % 'order_ts'}"
                               " GROUP BY 1", DAY))
    assert {sk.split("#")[1]: i["orders"] for sk, i in orders.items() if sk.startswith("status#")} == statuses

    # new customers by segment and country
    expected = {f"{s}#{c}": n for s, c, n in query(
        url, "SELECT segment, country, count(*) FROM warehouse.customers WHERE _partition = %s GROUP BY 1, 2", DAY)}
    assert {sk: i["customers"] for sk, i in items(pipeline_env, f"new_customers#{DAY}").items()} == expected

    # top products: the best seller by units (ties by SKU)
    top = items(pipeline_env, f"top_products#{DAY}")
    ranking = query(url, f"""
        SELECT i.sku, sum(i.quantity) FROM warehouse.order_items i JOIN warehouse.orders o USING (order_id)
        WHERE {UTC_DAY % 'o.order_ts'} AND o.status IN ('paid', 'shipped', 'delivered')
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""", DAY)
    assert [(top[f"rank#{n:02d}"]["sku"], top[f"rank#{n:02d}"]["units"]) for n in range(1, 11)] == ranking

    # web events by type and device; page-load p50/p95
    web = items(pipeline_env, f"web_events#{DAY}")
    events = query(url, f"SELECT event_type, device_type, user_id, properties FROM warehouse.web_events"
                        f" WHERE {UTC_DAY % 'occurred_at'}", DAY)
    counts: dict[str, int] = defaultdict(int)
    for event_type, device, _, _ in events:
        counts[f"type#{event_type}#{device}"] += 1
    assert {sk: i["events"] for sk, i in web.items() if sk.startswith("type#")} == counts
    loads = [float(p["load_time_ms"]) for t, _, _, p in events if t == "page_view"]
    assert web["page_load#all"]["page_views"] == len(loads)
    assert float(web["page_load#all"]["p50_ms"]) == pytest.approx(percentile(loads, 0.5), abs=1e-6)
    assert float(web["page_load#all"]["p95_ms"]) == pytest.approx(percentile(loads, 0.95), abs=1e-6)

    # purchases per currency and errors per type
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for t, _, _, p in events:
        if t == "purchase":
            amounts[p["currency"]] += Decimal(str(p["amount"]))
    assert {sk: i["amount"] for sk, i in items(pipeline_env, f"purchases#{DAY}").items()} == amounts
    error_types: dict[str, set] = defaultdict(set)
    error_counts: dict[str, int] = defaultdict(int)
    for t, _, user, p in events:
        if t == "error":
            error_counts[p["error_type"]] += 1
            error_types[p["error_type"]].add(user)
    assert {sk: (i["events"], i["users"]) for sk, i in items(pipeline_env, f"errors#{DAY}").items()} == {
        k: (error_counts[k], len(error_types[k])) for k in error_counts}

    # market OHLC + volume per symbol, and per 5-minute bucket
    ticks = query(url, f"SELECT symbol, ts, price, volume FROM warehouse.market_ticks WHERE {UTC_DAY % 'ts'}"
                       " ORDER BY symbol, ts", DAY)
    by_symbol: dict[str, list] = defaultdict(list)
    buckets: dict[str, list] = defaultdict(list)
    for symbol, ts, price, volume in ticks:
        by_symbol[symbol].append((price, volume))
        buckets[f"{symbol}#{ts.astimezone(timezone.utc):%H}:{ts.astimezone(timezone.utc).minute // 5 * 5:02d}"].append(
            (price, volume))

    def ohlc(rows):
        prices = [p for p, _ in rows]
        return (prices[0], max(prices), min(prices), prices[-1], sum(v for _, v in rows), len(rows))

    daily = items(pipeline_env, f"market_daily#{DAY}")
    assert set(daily) == set(by_symbol) == {"AAPL", "MSFT", "AMZN", "GOOG", "TSLA"}
    for symbol, rows in by_symbol.items():
        i = daily[symbol]
        got = (i["open"], i["high"], i["low"], i["close"], i["volume"], i["ticks"])
        assert [float(v) for v in got] == pytest.approx([float(v) for v in ohlc(rows)], rel=1e-9)
    five = items(pipeline_env, f"market_5m#{DAY}")
    assert set(five) == set(buckets)
    for key in ("AAPL#00:00", "TSLA#12:30", "MSFT#23:55"):
        i = five[key]
        got = (i["open"], i["high"], i["low"], i["close"], i["volume"], i["ticks"])
        assert [float(v) for v in got] == pytest.approx([float(v) for v in ohlc(buckets[key])], rel=1e-9)

    # data quality per dataset
    quality = items(pipeline_env, f"data_quality#{DAY}")
    assert set(quality) == {"customers", "products", "orders", "web_events", "market_ticks"}
    for dataset, files, rows_in, loaded, quarantined in query(url, """
            SELECT dataset, count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.load_audit
            WHERE partition_date = %s GROUP BY 1""", DAY):
        q = quality[dataset]
        assert (q["files"], q["rows_in"], q["rows_loaded"], q["rows_quarantined"]) == (files, rows_in, loaded, quarantined)
        reasons = query(url, "SELECT reason, count(*) FROM ops.quarantine WHERE dataset = %s AND partition_date = %s"
                             " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5", dataset, DAY)
        assert [(r["reason"], r["records"]) for r in q["top_reasons"]] == reasons
        loaded_pct = 100 * float(loaded) / float(rows_in)
        checks_pct = 100 * float(q["checks_passed"]) / float(q["checks_total"])
        assert float(q["score"]) == pytest.approx(round((loaded_pct + checks_pct) / 2, 1))
    assert quality["orders"]["checks_total"] == 5  # balance, 2 × key_unique, 2 × no_orphan


def test_rematerialising_overwrites_the_same_items_and_drops_stale_ones(pipeline_env, database_url):
    load_day(pipeline_env, DAY)
    materialize_aggregates(pipeline_env, DAY)
    first = scan_aggregates(pipeline_env)
    materialize_aggregates(pipeline_env, DAY)
    materialize_aggregates(pipeline_env, DAY)
    assert scan_aggregates(pipeline_env) == first
    keys = [(i["pk"]["S"], i["sk"]["S"]) for i in first]
    assert len(keys) == len(set(keys))

    # an item the aggregate no longer produces disappears on the next run
    boto3.client("dynamodb").put_item(TableName=pipeline_env.names.aggregates_table,
                                      Item=to_item({"pk": f"revenue#{DAY}", "sk": "XXX#web", "orders": 1}))
    # and data that changed upstream changes the items: all GBP orders are gone now
    query_url = database_url
    import psycopg
    with psycopg.connect(query_url) as conn:
        conn.execute("DELETE FROM warehouse.order_items WHERE order_id IN"
                     " (SELECT order_id FROM warehouse.orders WHERE currency = 'GBP')")
        conn.execute("DELETE FROM warehouse.orders WHERE currency = 'GBP'")
    materialize_aggregates(pipeline_env, DAY, ["revenue", "orders"])
    revenue = items(pipeline_env, f"revenue#{DAY}")
    assert "XXX#web" not in revenue
    assert not [sk for sk in revenue if sk.startswith("GBP#")]
    assert "currency#GBP" not in items(pipeline_env, f"orders#{DAY}")
    assert {sk.split("#")[0] for sk in revenue} == {"EUR", "USD"}


def test_a_day_without_data_keeps_only_explicit_zero_markers(pipeline_env):
    materialize_aggregates(pipeline_env, EMPTY_DAY)
    stored = {(i["pk"]["S"], i["sk"]["S"]) for i in scan_aggregates(pipeline_env)}
    assert stored == {(f"orders#{EMPTY_DAY}", "total")} | {
        (f"data_quality#{EMPTY_DAY}", d) for d in ("customers", "products", "orders", "web_events", "market_ticks")}
    total = items(pipeline_env, f"orders#{EMPTY_DAY}")["total"]
    assert (total["orders"], total["units"]) == (0, 0)
    quality = items(pipeline_env, f"data_quality#{EMPTY_DAY}")["orders"]
    assert quality["status"] == "no data" and "score" not in quality


class Throttling:
    """A real (moto) DynamoDB client that reports part of each batch as unprocessed, like a throttled table."""

    def __init__(self, client, times: int):
        self.client, self.times, self.calls = client, times, 0

    def batch_write_item(self, RequestItems):
        self.calls += 1
        (table, requests), = RequestItems.items()
        if self.times:
            self.times -= 1
            done, left = requests[: len(requests) // 2], requests[len(requests) // 2:]
            if done:
                self.client.batch_write_item(RequestItems={table: done})
            return {"UnprocessedItems": {table: left}}
        return self.client.batch_write_item(RequestItems=RequestItems)


def test_batch_writes_retry_unprocessed_items(provisioned):
    table = provisioned.names.aggregates_table
    ddb = boto3.client("dynamodb")
    requests = [{"PutRequest": {"Item": to_item({"pk": "t#1", "sk": f"{n:03d}", "n": n})}} for n in range(60)]
    throttled = Throttling(ddb, times=3)
    assert batch_write(throttled, table, requests, pause=0) == 60
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :p", Select="COUNT",
                     ExpressionAttributeValues={":p": {"S": "t#1"}})["Count"] == 60
    assert throttled.calls == 3 + 3  # three batches of ≤25, three of them retried once
    with pytest.raises(UnprocessedItemsError):
        batch_write(Throttling(ddb, times=100), table, requests[:4], attempts=3, pause=0)


def test_replace_partition_refuses_duplicate_sort_keys(provisioned):
    with pytest.raises(ValueError, match="duplicate sort keys"):
        replace_partition(boto3.client("dynamodb"), provisioned.names.aggregates_table, "x#1",
                          [{"sk": "a"}, {"sk": "a"}])
