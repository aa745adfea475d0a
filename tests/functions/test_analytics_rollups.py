"""The sales rollups (pipeline_defs/rollups.py): what the warehouse loads leave behind equals a full
rebuild, after re-loads that move orders between days and change countries and categories; and the
analytics API answers the same figures from them as from the warehouse tables."""

from __future__ import annotations

import json
from datetime import date

import boto3
import psycopg
import pytest
from dagster import AssetKey, materialize

from pipeline_defs.rollups import ROLLUP_TABLES, rebuild, refresh_after_load
from tests.functions.analytics_fixtures import execute, seeded_api, seeded_template, sql  # noqa: F401

COMPARED = [t for t in ROLLUP_TABLES if t != "product_facts"]  # product_facts holds every product after a rebuild


def snapshot(url: str) -> dict[str, list[tuple]]:
    return {t: sql(url, f"SELECT * FROM analytics.{t} r ORDER BY r") for t in COMPARED}


def rebuilt(url: str) -> dict[str, list[tuple]]:
    """What a full rebuild would hold, without keeping it."""
    with psycopg.connect(url) as conn:
        rebuild(conn)
        rows = {t: conn.execute(f"SELECT * FROM analytics.{t} r ORDER BY r").fetchall() for t in COMPARED}
        conn.rollback()
    return rows


def reload(url: str, dataset: str, partition: str, statement: str, params=()) -> None:
    """A load of ``partition`` as the warehouse asset does it: rows merged, then the rollups refreshed."""
    with psycopg.connect(url) as conn:
        conn.execute(statement, params)
        refresh_after_load(conn, dataset, date.fromisoformat(partition))
        conn.commit()


def test_loads_leave_the_same_rollups_as_a_rebuild(seeded_api):
    url = seeded_api.database_url
    loaded = snapshot(url)
    assert loaded["sales_daily"] and loaded["customer_revenue"] and loaded["product_revenue_daily"]
    assert loaded == rebuilt(url)
    (refreshed,) = sql(url, "SELECT days_refreshed FROM analytics.rollup_state WHERE name = 'sales'")[0]
    assert refreshed >= 0


def test_reloads_that_move_orders_and_change_dimensions_stay_exact(seeded_api):
    url = seeded_api.database_url
    order_id, customer_id, day = sql(url, """SELECT order_id, customer_id, (order_ts AT TIME ZONE 'UTC')::date
                                             FROM warehouse.orders WHERE status = 'paid' ORDER BY order_id LIMIT 1""")[0]
    # a later version of the order, loaded with another day's partition, moves it 40 days back
    reload(url, "orders", "2026-11-20", """UPDATE warehouse.orders SET order_ts = order_ts - interval '40 days',
                                           status = 'delivered', _partition = '2026-11-20' WHERE order_id = %s""",
           (order_id,))
    assert snapshot(url) == rebuilt(url)
    assert sql(url, "SELECT count(*) FROM analytics.sales_daily WHERE day = %s::date - 40", (day,))[0][0] > 0
    # the customer moves country; a product changes category
    reload(url, "customers", "2026-11-19", """UPDATE warehouse.customers SET country = 'IS', _partition = '2026-11-19'
                                              WHERE customer_id = %s""", (customer_id,))
    assert snapshot(url) == rebuilt(url)
    assert sql(url, "SELECT count(*) FROM analytics.order_facts WHERE country = 'IS'")[0][0] > 0
    sku = sql(url, "SELECT sku FROM warehouse.order_items ORDER BY order_id LIMIT 1")[0][0]
    reload(url, "products", "2026-11-18", """UPDATE warehouse.products SET category = 'relabelled',
                                             _partition = '2026-11-18' WHERE sku = %s""", (sku,))
    assert snapshot(url) == rebuilt(url)
    assert sql(url, "SELECT count(*) FROM analytics.sales_daily_category WHERE category = 'relabelled'")[0][0] > 0
    # a customer who arrives after their orders: the orders leave 'unknown'
    reload(url, "orders", "2026-11-20", """UPDATE warehouse.orders SET customer_id = 'LATE1', _partition = '2026-11-20'
                                           WHERE order_id = %s""", (order_id,))
    assert sql(url, "SELECT country FROM analytics.order_facts WHERE order_id = %s", (order_id,))[0][0] is None
    reload(url, "customers", "2026-11-20", """INSERT INTO warehouse.customers (customer_id, email, country, signup_date,
                                              _source_key, _partition)
                                              VALUES ('LATE1', 'late@x.io', 'NO', '2026-11-20', 't', '2026-11-20')""")
    assert snapshot(url) == rebuilt(url)
    assert sql(url, "SELECT country FROM analytics.order_facts WHERE order_id = %s", (order_id,))[0][0] == "NO"


@pytest.mark.parametrize("operation, params", [
    ("customer_analysis", {"min_orders": 2}),
    ("revenue_analysis", {"start_date": "2026-08-15", "end_date": "2026-11-19", "top_n": 3}),
    ("revenue_analysis", {"start_date": "2026-11-19", "end_date": "2026-11-20", "top_n": 2, "currency": "EUR"}),
    ("multi_dimensional_analytics", {"timeframe": "30 days", "end_date": "2026-11-20"}),
])
def test_rollup_answers_equal_the_warehouse_answers(seeded_api, operation, params):
    url = seeded_api.database_url
    _, _, fast = seeded_api.get(operation, **params)
    assert fast["data"]["source"]["kind"] == "rollup" and fast["data"]["source"]["refreshed_at"]
    execute(url, "DELETE FROM analytics.rollup_state")  # no rollups: the operations read the warehouse tables
    seeded_api.event({"dataset": "orders", "partition": "2026-11-20"})  # not the cached answer
    _, _, slow = seeded_api.get(operation, **params)
    assert slow["data"]["source"]["kind"] == "live" and slow["cached"] is False
    assert {k: v for k, v in fast["data"].items() if k != "source"} == \
        {k: v for k, v in slow["data"].items() if k != "source"}


ROLLUP_OPERATIONS = [("customer_analysis", {}), ("revenue_analysis", {"start_date": "2026-11-01", "end_date": "2026-11-30"}),
                     ("multi_dimensional_analytics", {"timeframe": "30 days", "end_date": "2026-11-30"})]


def sources(api) -> list[dict]:
    api.event({"dataset": "orders", "partition": "2026-11-19"})  # what PartitionLoaded does: no cached answers
    return [api.get(operation, **params)[2]["data"]["source"] for operation, params in ROLLUP_OPERATIONS]


def test_answers_list_the_load_days_the_rollups_have_not_absorbed(seeded_api, monkeypatch):
    from assets.analytics import sales_rollups
    from assets.raw import raw_assets
    from assets.validated import validated_assets
    from assets.warehouse import warehouse_assets
    from pipeline_defs import settings as settings_module
    from pipeline_defs.resources import build_resources

    url = seeded_api.database_url
    assert [(s["kind"], s["stale"], s["stale_days"]) for s in sources(seeded_api)] == [("rollup", False, [])] * 3
    # a late orders file for 2026-11-19, validated and merged by the real assets — rollups not refreshed
    customer_id, sku = sql(url, "SELECT o.customer_id, i.sku FROM warehouse.orders o JOIN warehouse.order_items i"
                                " USING (order_id) ORDER BY o.order_id LIMIT 1")[0]
    order = {"order_id": "LATE-1", "customer_id": customer_id, "order_ts": "2026-11-19T12:00:00Z", "status": "paid",
             "currency": "USD", "items": [{"sku": sku, "quantity": 2, "unit_price": 10.0}], "total_amount": 20.0}
    boto3.client("s3").put_object(Bucket=seeded_api.settings.names.raw_bucket,
                                  Key="erp/orders/dt=2026-11-19/late.json", Body=json.dumps([order]).encode())
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    settings_module.get_settings.cache_clear()
    resources = build_resources(settings_module.get_settings())
    assets = [*raw_assets, *validated_assets, *warehouse_assets, sales_rollups]
    loaded = materialize(assets, partition_key="2026-11-19", resources=resources, raise_on_error=True,
                         selection=[AssetKey([layer, name]) for layer, name in
                                    [("raw", "orders"), ("validated", "orders"), ("warehouse", "orders"),
                                     ("warehouse", "order_items")]])
    assert loaded.success and sql(url, "SELECT count(*) FROM warehouse.orders WHERE order_id = 'LATE-1'") == [(1,)]

    stale = sources(seeded_api)
    assert [(s["kind"], s["stale"], s["stale_days"]) for s in stale] == [("rollup", True, ["2026-11-19"])] * 3
    assert snapshot(url) != rebuilt(url)  # what stale means: the rollups miss the late order

    assert materialize(assets, partition_key="2026-11-19", resources=resources, raise_on_error=True,
                       selection=[AssetKey(["analytics", "sales_rollups"])]).success
    assert [(s["stale"], s["stale_days"]) for s in sources(seeded_api)] == [(False, [])] * 3
    assert snapshot(url) == rebuilt(url)
