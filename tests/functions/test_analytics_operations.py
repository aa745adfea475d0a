"""Each operation's figures on three seeded days, checked against SQL written here independently."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from tests.functions.analytics_fixtures import (day_range, execute, rebuild_rollups, seeded_api,  # noqa: F401
                                                seeded_template, sql)

PAID = ("paid", "shipped", "delivered")


def money(value) -> float:
    return float(Decimal(value).quantize(Decimal("0.01")))


def test_simple_demo_and_database_info_count_what_is_there(seeded_api):
    url = seeded_api.database_url
    status, _, body = seeded_api.get("simple_demo")
    assert status == 200 and body["cached"] is False
    assert body["data"]["orders"] == sql(url, "SELECT count(*) FROM warehouse.orders")[0][0]
    assert body["data"]["customers"] == sql(url, "SELECT count(*) FROM warehouse.customers")[0][0]

    status, _, body = seeded_api.get("database_info")
    tables = {(t["schema"], t["table"]): t for t in body["data"]["tables"]}
    for table in ("customers", "products", "orders", "order_items", "web_events", "market_ticks"):
        expected = sql(url, f"SELECT count(*) FROM warehouse.{table}")[0][0]
        assert tables[("warehouse", table)]["rows"] == expected > 0
        assert tables[("warehouse", table)]["size_bytes"] > 0
    assert tables[("ops", "load_audit")]["rows"] == 15  # 5 files a day for 3 days
    columns = [c["name"] for c in tables[("warehouse", "orders")]["columns"]]
    assert columns[:3] == ["order_id", "customer_id", "order_ts"]


@pytest.mark.parametrize("min_orders", [1, 4])
def test_customer_analysis_matches_sql(seeded_api, min_orders):
    url = seeded_api.database_url
    _, _, body = seeded_api.post({"operation": "customer_analysis", "parameters": {"min_orders": min_orders}})
    got = {(g["segment"], g["country"]): g for g in body["data"]["segments"]}
    per_customer = sql(url, """
        SELECT c.customer_id, c.segment, c.country, o.currency, o.total_amount
        FROM warehouse.orders o JOIN warehouse.customers c USING (customer_id)
        WHERE o.status IN ('paid', 'shipped', 'delivered')""")
    orders_of = defaultdict(int)
    for cid, *_ in per_customer:
        orders_of[cid] += 1
    expected = defaultdict(lambda: {"customers": set(), "orders": 0, "revenue": defaultdict(Decimal)})
    for cid, segment, country, currency, amount in per_customer:
        if orders_of[cid] >= min_orders:
            group = expected[(segment, country)]
            group["customers"].add(cid)
            group["orders"] += 1
            group["revenue"][currency] += amount
    assert set(got) == set(expected)
    for key, group in expected.items():
        assert got[key]["customers"] == len(group["customers"])
        assert got[key]["orders"] == group["orders"]
        assert got[key]["revenue"] == {c: money(v) for c, v in group["revenue"].items()}
    if min_orders > 1:
        assert sum(g["customers"] for g in got.values()) < len(orders_of)


def test_customer_analysis_filters(seeded_api):
    _, _, body = seeded_api.get("customer_analysis", segment="SMB", country="gb")
    assert body["parameters"] == {"country": "GB", "min_orders": 1, "segment": "smb"}
    assert {(g["segment"], g["country"]) for g in body["data"]["segments"]} == {("smb", "GB")}


def test_revenue_analysis_matches_sql(seeded_api):
    url = seeded_api.database_url
    _, _, body = seeded_api.get("revenue_analysis", start_date="2026-09-01", end_date="2026-11-30", top_n=3)
    data = body["data"]
    monthly = {(m["currency"], m["month"]): m for m in data["monthly"]}
    assert {m for _, m in monthly} == {"2026-09-01", "2026-10-01", "2026-11-01"}  # empty months are there, as 0
    for currency, revenue, orders in sql(url, """
            SELECT currency, sum(total_amount), count(*) FROM warehouse.orders
            WHERE status IN ('paid', 'shipped', 'delivered') AND order_ts >= '2026-11-01' AND order_ts < '2026-12-01'
            GROUP BY currency"""):
        november = monthly[(currency, "2026-11-01")]
        assert (november["revenue"], november["orders"]) == (money(revenue), orders)
        assert november["running_total"] == money(revenue)  # nothing before November
        assert november["mom_growth_pct"] is None  # October was 0: growth from 0 is undefined
        assert monthly[(currency, "2026-10-01")]["revenue"] == 0
    expected_top = sql(url, """
        SELECT o.currency, i.sku, sum(i.quantity * i.unit_price) AS revenue
        FROM warehouse.orders o JOIN warehouse.order_items i USING (order_id)
        WHERE o.status IN ('paid', 'shipped', 'delivered') GROUP BY 1, 2""")
    by_currency = defaultdict(list)
    for currency, sku, revenue in expected_top:
        by_currency[currency].append((revenue, sku))
    for currency, sales in by_currency.items():
        best = sorted(sales, reverse=True)[:3]
        got = [(p["sku"], p["revenue"], p["rank"]) for p in data["top_products"] if p["currency"] == currency]
        assert got == [(sku, money(rev), n + 1) for n, (rev, sku) in enumerate(best)]
    spend = sql(url, """SELECT currency, customer_id, sum(total_amount) FROM warehouse.orders
                        WHERE status IN ('paid', 'shipped', 'delivered') GROUP BY 1, 2 ORDER BY 3 DESC""")
    top_usd = [(c, money(v)) for cur, c, v in spend if cur == "USD"][:3]
    assert [(c["customer_id"], c["revenue"]) for c in data["top_customers"] if c["currency"] == "USD"] == top_usd


def test_revenue_growth_and_running_total_over_months(seeded_api):
    url = seeded_api.database_url
    execute(url, "SET ROLE NONE")
    execute(url, """INSERT INTO warehouse.orders (order_id, customer_id, order_ts, status, currency, total_amount,
                                                  _source_key, _partition)
                    VALUES ('X1', 'C000001', '2026-10-15T12:00:00Z', 'paid', 'USD', 1000, 'test', '2026-10-15')""")
    rebuild_rollups(url)  # a write that bypassed the loader: the rollups learn of it from a rebuild
    november = sql(url, """SELECT sum(total_amount) FROM warehouse.orders WHERE currency = 'USD'
                           AND status IN ('paid', 'shipped', 'delivered') AND order_ts >= '2026-11-01'""")[0][0]
    _, _, body = seeded_api.get("revenue_analysis", start_date="2026-10-01", end_date="2026-11-30", currency="usd")
    rows = body["data"]["monthly"]
    assert [(r["month"], r["revenue"]) for r in rows] == [("2026-10-01", 1000.0), ("2026-11-01", money(november))]
    assert rows[1]["running_total"] == money(november + 1000)
    assert rows[1]["mom_growth_pct"] == round(float((november - 1000) / 1000 * 100), 2)


def test_multi_dimensional_rollups_add_up(seeded_api):
    url = seeded_api.database_url
    _, _, body = seeded_api.get("multi_dimensional_analytics", timeframe="3 months", end_date="2026-11-30")
    assert body["data"]["window"] == {"start_date": "2026-09-01", "end_date": "2026-11-30"}
    rows = body["data"]["rows"]
    expected = dict(((cur, cat), (money(rev), units)) for cur, cat, rev, units in sql(url, """
        SELECT o.currency, coalesce(p.category, 'unknown'), sum(i.quantity * i.unit_price), sum(i.quantity)
        FROM warehouse.orders o JOIN warehouse.order_items i USING (order_id) LEFT JOIN warehouse.products p USING (sku)
        WHERE o.status IN ('paid', 'shipped', 'delivered') GROUP BY 1, 2"""))
    by_category = {(r["currency"], r["category"]): (r["revenue"], r["units"]) for r in rows if r["level"] == "category"}
    assert by_category == expected
    totals = {r["currency"]: r for r in rows if r["level"] == "total"}
    for currency, total in totals.items():
        detail = [r for r in rows if r["currency"] == currency and r["level"] == "category+country+month"]
        assert round(sum(r["revenue"] for r in detail), 2) == total["revenue"]
        orders = sql(url, """SELECT count(DISTINCT order_id) FROM warehouse.orders o
                             WHERE currency = %s AND status IN ('paid', 'shipped', 'delivered')
                               AND EXISTS (SELECT 1 FROM warehouse.order_items i WHERE i.order_id = o.order_id)""",
                     (currency,))[0][0]
        assert total["orders"] == orders
    assert {r["level"] for r in rows} == set(body["data"]["levels"])


def test_referral_network_matches_a_walk_of_the_tree(seeded_api):
    url = seeded_api.database_url
    execute(url, """INSERT INTO warehouse.customers (customer_id, email, country, signup_date, referred_by,
                                                     _source_key, _partition) VALUES
        ('LOOP1', 'l1@x.io', 'GB', '2026-01-01', 'LOOP2', 't', '2026-11-20'),
        ('LOOP2', 'l2@x.io', 'GB', '2026-01-01', 'LOOP1', 't', '2026-11-20'),
        ('LOST1', 'l3@x.io', 'GB', '2026-01-01', 'NOBODY', 't', '2026-11-20')""")
    parent = dict(sql(url, "SELECT customer_id, referred_by FROM warehouse.customers"))
    children = defaultdict(list)
    for child, ref in parent.items():
        if ref in parent:
            children[ref].append(child)
    roots = [c for c, ref in parent.items() if ref is None or ref not in parent]
    depth_count, sizes = defaultdict(int), {}
    for root in roots:
        stack, size = [(root, 0)], 0
        while stack:
            node, depth = stack.pop()
            depth_count[depth] += 1
            size += 1
            stack += [(c, depth + 1) for c in children[node]]
        sizes[root] = size - 1
    _, _, body = seeded_api.get("referral_network", top_n=5)
    data = body["data"]
    assert data["summary"]["in_cycles"] == 2 and data["summary"]["unknown_referrers"] == 1
    assert data["summary"]["reached"] == sum(depth_count.values()) == len(parent) - 2
    assert {d["depth"]: d["customers"] for d in data["depth_distribution"]} == dict(depth_count)
    biggest = sorted((s for s in sizes.values() if s > 0), reverse=True)
    assert [n["size"] for n in data["top_networks"]][:5] == biggest[:5]
    assert all(sizes[n["root_customer_id"]] == n["size"] for n in data["top_networks"])
    _, _, shallow = seeded_api.get("referral_network", max_depth=1)
    assert shallow["data"]["summary"]["max_depth"] == 1
    assert shallow["data"]["summary"]["truncated_at_max_depth"] == sum(
        1 for root in roots for c in children[root] if children[c])


def test_time_series_patterns_profile_and_anomalies(seeded_api):
    url = seeded_api.database_url
    # a burst of 400 errors in one hour must stand out
    execute(url, """INSERT INTO warehouse.web_events (event_id, event_type, user_id, occurred_at, _source_key, _partition)
                    SELECT 'burst-' || n, 'error', 'u1', '2026-11-19T13:30:00Z', 't', '2026-11-19'
                    FROM generate_series(1, 400) n""")
    _, _, body = seeded_api.get("time_series_patterns", start_date="2026-11-18", end_date="2026-11-20")
    data = body["data"]
    by_hour = dict(sql(url, """SELECT extract(hour FROM occurred_at AT TIME ZONE 'UTC')::int, count(*)
                               FROM warehouse.web_events WHERE occurred_at >= '2026-11-18' AND occurred_at < '2026-11-21'
                               GROUP BY 1"""))
    assert {h["hour"]: h["events"] for h in data["by_hour_of_day"]} == by_hour
    assert data["summary"]["events"] == sum(by_hour.values()) and data["summary"]["hours"] == 72
    assert data["anomalies"][0]["hour"] == "2026-11-19T13:00:00Z" and data["anomalies"][0]["z_score"] > 3
    weekdays = {w["weekday"]: w["events"] for w in data["by_weekday"]}
    assert set(weekdays) == {"Wednesday", "Thursday", "Friday"}  # 2026-11-18 is a Wednesday
    _, _, only_errors = seeded_api.get("time_series_patterns", start_date="2026-11-18", end_date="2026-11-20",
                                       event_type="error")
    errors = sql(url, """SELECT count(*) FROM warehouse.web_events WHERE event_type = 'error'
                         AND occurred_at >= '2026-11-18' AND occurred_at < '2026-11-21'""")[0][0]
    assert only_errors["data"]["summary"]["events"] == errors


def test_data_integrity_scores_and_cross_system_counts(seeded_api):
    url = seeded_api.database_url
    execute(url, """UPDATE warehouse.orders SET total_amount = total_amount + 5
                    WHERE order_id = (SELECT min(order_id) FROM warehouse.orders WHERE _partition = '2026-11-19')""")
    _, _, body = seeded_api.get("data_integrity_analysis", start_date="2026-11-18", end_date="2026-11-20")
    data = body["data"]
    assert data["fuzzy_matching"] == "pg_trgm"
    tables = {t["table"]: t for t in data["tables"]}
    orphans = sql(url, """SELECT count(*) FROM warehouse.orders o WHERE NOT EXISTS
                          (SELECT 1 FROM warehouse.customers c WHERE c.customer_id = o.customer_id)""")[0][0]
    assert tables["orders"]["orphans"] == {"customer_id": orphans}
    assert tables["orders"]["total_mismatches"] == 1
    quarantined = sql(url, "SELECT count(*) FROM ops.quarantine WHERE dataset = 'orders' AND row_number >= 0")[0][0]
    rows = sql(url, "SELECT count(*) FROM warehouse.orders")[0][0]
    assert tables["orders"]["quarantined"] == quarantined
    flagged = sql(url, """SELECT count(*) FROM warehouse.orders o WHERE NOT EXISTS
                            (SELECT 1 FROM warehouse.customers c WHERE c.customer_id = o.customer_id)
                          OR abs(o.total_amount - (SELECT sum(quantity * unit_price) FROM warehouse.order_items i
                                                   WHERE i.order_id = o.order_id)) > 0.01""")[0][0]
    assert tables["orders"]["quality_score"] == round(100 * (1 - (flagged + quarantined) / (rows + quarantined)), 2)
    nulls = sql(url, "SELECT avg((company IS NULL)::int) FROM warehouse.customers")[0][0]
    assert tables["customers"]["null_rates"]["company"] == round(float(nulls), 4)
    cross = {(r["dataset"], r["date"]): r for r in data["cross_system"]["rows"]}
    for dataset, day, loaded in sql(url, "SELECT dataset, partition_date::text, sum(rows_loaded) FROM ops.load_audit"
                                         " GROUP BY 1, 2"):
        row = cross[(dataset, day)]
        assert row["load_audit"] == row["processing_state"] == loaded
        assert row["parquet"] == row["warehouse"] and row["batch_consistent"]
    assert cross[("orders", "2026-11-20")]["warehouse"] == sql(
        url, "SELECT count(*) FROM warehouse.orders WHERE _partition = '2026-11-20'")[0][0]


def test_integrity_finds_orphan_items_and_items_outside_their_orders_partition(seeded_api):
    url = seeded_api.database_url
    customer, sku = sql(url, "SELECT (SELECT min(customer_id) FROM warehouse.customers),"
                             " (SELECT min(sku) FROM warehouse.products)")[0]
    order = ("INSERT INTO warehouse.orders (order_id, customer_id, order_ts, status, currency, channel, total_amount,"
             " updated_at, _source_key, _partition) VALUES (%s, %s, '2026-11-26T10:00:00Z', 'paid', 'EUR', 'web', %s,"
             " '2026-11-26T10:00:00Z', 't', '2026-11-26')")
    item = ("INSERT INTO warehouse.order_items (order_id, line_no, sku, quantity, unit_price, _source_key, _partition)"
            " VALUES (%s, %s, %s, 1, %s, 't', %s)")
    execute(url, order, ("X1", customer, 10))
    execute(url, item, ("X1", 1, sku, 10, "2026-11-26"))
    execute(url, item, ("X1", 2, "NO-SUCH-SKU", 0, "2026-11-26"))  # orphan sku, total unchanged
    execute(url, order, ("X2", customer, 10))
    execute(url, item, ("X2", 1, sku, 10, "2026-11-26"))
    execute(url, item, ("X2", 2, sku, 5, "2026-11-27"))  # stored in another partition than its order
    execute(url, item, ("X3", 1, sku, 10, "2026-11-26"))  # no such order
    execute(url, order, ("X4", customer, 99))
    execute(url, item, ("X4", 1, sku, 10, "2026-11-26"))  # total 99 against items worth 10

    _, _, body = seeded_api.get("data_integrity_analysis", start_date="2026-11-26", end_date="2026-11-27")
    tables = {t["table"]: t for t in body["data"]["tables"]}
    items = tables["order_items"]
    in_range = "_partition BETWEEN '2026-11-26' AND '2026-11-27'"
    assert items["orphans"] == {
        "sku": sql(url, f"SELECT count(*) FROM warehouse.order_items i WHERE {in_range} AND NOT EXISTS"
                        " (SELECT 1 FROM warehouse.products p WHERE p.sku = i.sku)")[0][0],
        "order_id": sql(url, f"SELECT count(*) FROM warehouse.order_items i WHERE {in_range} AND NOT EXISTS"
                             " (SELECT 1 FROM warehouse.orders o WHERE o.order_id = i.order_id)")[0][0],
    } == {"sku": 1, "order_id": 1}
    assert items["outside_order_partition"] == sql(
        url, f"SELECT count(*) FROM warehouse.order_items i JOIN warehouse.orders o USING (order_id)"
             f" WHERE i.{in_range} AND i._partition <> o._partition")[0][0] == 1
    assert items["flagged_rows"] == 3 and items["rows"] == 6
    assert tables["orders"]["total_mismatches"] == 1  # X4; X2 matches the items stored with it
    assert tables["orders"]["orphans"] == {"customer_id": 0}


def test_duplicates_fall_back_to_exact_matching_without_pg_trgm(seeded_api):
    url = seeded_api.database_url
    execute(url, """INSERT INTO warehouse.customers (customer_id, email, first_name, last_name, country, signup_date,
                                                     _source_key, _partition) VALUES
        ('D1', 'jane.doe+shop@mail.io', 'Jane', 'Doe', 'GB', '2026-01-01', 't', '2026-11-25'),
        ('D2', 'janedoe@mail.io', 'Jane', 'Doe', 'GB', '2026-01-01', 't', '2026-11-25'),
        ('D3', 'jonathan.smithers@mail.io', 'Jonathan', 'Smithers', 'GB', '2026-01-01', 't', '2026-11-25'),
        ('D4', 'jonathan.smither@mail.io', 'Jonathan', 'Smither', 'GB', '2026-01-01', 't', '2026-11-25')""")
    _, _, fuzzy = seeded_api.get("data_integrity_analysis", start_date="2026-11-25", end_date="2026-11-25")
    assert fuzzy["data"]["fuzzy_matching"] == "pg_trgm"
    pairs = {(p["customer_id"], p["duplicate_of"]) for p in fuzzy["data"]["duplicate_candidates"]["examples"]}
    assert pairs == {("D1", "D2"), ("D3", "D4")}  # equal normalised emails; similar name and email
    execute(url, "DROP EXTENSION pg_trgm CASCADE")
    seeded_api.handler.reset_runtime()  # a new connection notices the extension is gone
    _, _, exact = seeded_api.get("data_integrity_analysis", start_date="2026-11-25", end_date="2026-11-25",
                                 email_similarity="0.71")  # other parameters: not the cached answer
    assert exact["data"]["fuzzy_matching"] == "exact_normalised"
    assert "pg_trgm is not installed" in exact["data"]["fuzzy_matching_note"]
    exact_pairs = {(p["customer_id"], p["duplicate_of"]) for p in exact["data"]["duplicate_candidates"]["examples"]}
    assert exact_pairs == {("D1", "D2")}  # Smithers/Smither needs fuzzy matching
