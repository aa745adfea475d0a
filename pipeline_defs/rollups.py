"""Sales rollups in the ``analytics`` schema: small per-day tables the analytics API reads instead
of scanning every order line (migration ``0005_sales_rollups`` creates them).

* ``sales_daily`` (day, currency, status, country): orders, revenue (Σ total_amount), orders with
  lines, units and line revenue (Σ quantity × unit_price).
* ``sales_daily_category`` (day, currency, status, country, category): the same per product category;
  ``orders`` counts an order once per category, so only the finer table sums to order counts.
* Revenue orders only (``REVENUE_STATUSES``): ``product_revenue_daily`` (day, currency, sku): orders,
  units, revenue; ``revenue_monthly`` (month, currency): orders, distinct customers, revenue;
  ``customer_revenue`` (customer_id, currency): all-time orders and revenue, and the
  customer's orders in every currency (``customer_orders``).

An order has exactly one day (UTC), currency, status and customer, so each of these cells is an
exact sum over its orders and any set of whole days sums exactly (``count(DISTINCT order_id)``
included). ``country`` is the customer's, ``category`` the product's, as they are at refresh time.

Refreshing is incremental and runs in its own asset, ``analytics/sales_rollups`` (assets/analytics.py),
after the warehouse loads of a partition (``refresh_partition``; ``refresh_after_load`` does one
dataset's share), so a load does not wait for it; the asset then publishes ``AnalyticsRefreshed``,
which invalidates the API's cached answers as ``PartitionLoaded`` does. It recomputes whole days: the days of the orders
the load wrote, plus the days those orders had before (``order_facts`` remembers, per order, the
day, customer and country it was counted with), plus — for a customers or products load — the days
of orders whose customer country or product category changed. ``rebuild`` recomputes everything
(after writes that bypassed the loader). An advisory lock serialises refreshes.

Each refresh first records which loads it absorbs (``analytics.rollup_coverage``: per dataset and
partition, the fingerprint of its ``ops.load_audit`` loads from the view ``analytics.rollup_loads``,
migration ``0009_rollup_coverage``). A partition whose loads no longer match is stale: the analytics
API lists it in ``data.source.stale_days`` until a refresh covers it again.
"""

from __future__ import annotations

from datetime import date

import psycopg

REVENUE_STATUSES = ("paid", "shipped", "delivered")  # as the aggregates and the analytics API count revenue
ROLLED_UP_DATASETS = ("orders", "customers", "products")
STATE_NAME = "sales"
ROLLUP_TABLES = ("sales_daily", "sales_daily_category", "product_revenue_daily", "revenue_monthly",
                 "customer_revenue", "order_facts", "product_facts")
_LOCK_ID = 7_310_002  # serialises rollup refreshes (migrations use 7_310_001)
_DAY = "(o.order_ts AT TIME ZONE 'UTC')::date"

_AFFECTED = {
    # orders: days they have now, and the days they were counted on before this load
    "orders": f"""
        SELECT DISTINCT {_DAY} AS day FROM warehouse.orders o WHERE o._partition = %(partition)s
        UNION
        SELECT f.day FROM analytics.order_facts f JOIN warehouse.orders o USING (order_id)
        WHERE o._partition = %(partition)s""",
    # customers: days of orders counted with another country than the customer has now
    "customers": """
        SELECT DISTINCT f.day FROM warehouse.customers c
        JOIN analytics.order_facts f ON f.customer_id = c.customer_id
        WHERE c._partition = %(partition)s AND f.country IS DISTINCT FROM c.country""",
    # products: days of orders with lines of a product whose category changed
    "products": """
        SELECT DISTINCT f.day FROM warehouse.products p
        LEFT JOIN analytics.product_facts pf ON pf.sku = p.sku
        JOIN warehouse.order_items i ON i.sku = p.sku
        JOIN analytics.order_facts f ON f.order_id = i.order_id
        WHERE p._partition = %(partition)s
          AND coalesce(pf.category, 'unknown') IS DISTINCT FROM coalesce(p.category, 'unknown')""",
}

_ALL_DAYS = f"SELECT DISTINCT {_DAY} AS day FROM warehouse.orders o UNION SELECT day FROM analytics.order_facts"

_REFRESH_DAYS = [
    "CREATE TEMP TABLE rollup_days ON COMMIT DROP AS"
    " SELECT d AS day, d::timestamp AT TIME ZONE 'UTC' AS lo, (d + 1)::timestamp AT TIME ZONE 'UTC' AS hi"
    " FROM unnest(%(days)s::date[]) d",
    f"""CREATE TEMP TABLE rollup_orders ON COMMIT DROP AS
        SELECT o.order_id, {_DAY} AS day, o.currency, o.status, o.customer_id, c.country, o.total_amount
        FROM rollup_days d
        JOIN warehouse.orders o ON o.order_ts >= d.lo AND o.order_ts < d.hi
        LEFT JOIN warehouse.customers c ON c.customer_id = o.customer_id""",
    """CREATE TEMP TABLE rollup_lines ON COMMIT DROP AS
        SELECT o.order_id, o.day, o.currency, o.status, coalesce(o.country, 'unknown') AS country,
               coalesce(p.category, 'unknown') AS category, i.sku, i.quantity, i.quantity * i.unit_price AS amount
        FROM rollup_orders o
        JOIN warehouse.order_items i ON i.order_id = o.order_id
        LEFT JOIN warehouse.products p ON p.sku = i.sku""",
    "DELETE FROM analytics.sales_daily WHERE day IN (SELECT day FROM rollup_days)",
    """INSERT INTO analytics.sales_daily (day, currency, status, country, orders, revenue, item_orders, units,
                                          item_revenue)
        SELECT o.day, o.currency, o.status, coalesce(o.country, 'unknown'), count(*), sum(o.total_amount),
               count(l.order_id), coalesce(sum(l.units), 0), coalesce(sum(l.amount), 0)
        FROM rollup_orders o
        LEFT JOIN (SELECT order_id, sum(quantity) AS units, sum(amount) AS amount FROM rollup_lines
                   GROUP BY order_id) l ON l.order_id = o.order_id
        GROUP BY 1, 2, 3, 4""",
    "DELETE FROM analytics.sales_daily_category WHERE day IN (SELECT day FROM rollup_days)",
    """INSERT INTO analytics.sales_daily_category (day, currency, status, country, category, orders, units, revenue)
        SELECT day, currency, status, country, category, count(DISTINCT order_id), sum(quantity), sum(amount)
        FROM rollup_lines GROUP BY 1, 2, 3, 4, 5""",
    "DELETE FROM analytics.product_revenue_daily WHERE day IN (SELECT day FROM rollup_days)",
    """INSERT INTO analytics.product_revenue_daily (day, currency, sku, orders, units, revenue)
        SELECT day, currency, sku, count(DISTINCT order_id), sum(quantity), sum(amount)
        FROM rollup_lines WHERE status = ANY(%(statuses)s) GROUP BY 1, 2, 3""",
    # whole months of the days: distinct customers per month need the month's orders
    """CREATE TEMP TABLE rollup_months ON COMMIT DROP AS
        SELECT DISTINCT date_trunc('month', day)::date AS month FROM rollup_days""",
    "DELETE FROM analytics.revenue_monthly WHERE month IN (SELECT month FROM rollup_months)",
    """INSERT INTO analytics.revenue_monthly (month, currency, orders, customers, revenue)
        SELECT m.month, o.currency, count(*), count(DISTINCT o.customer_id), sum(o.total_amount)
        FROM rollup_months m
        JOIN warehouse.orders o ON o.order_ts >= m.month::timestamp AT TIME ZONE 'UTC'
                               AND o.order_ts < (m.month + interval '1 month') AT TIME ZONE 'UTC'
        WHERE o.status = ANY(%(statuses)s)
        GROUP BY 1, 2""",
    # customers of these orders, now and as counted before: their all-time revenue is recomputed
    """CREATE TEMP TABLE rollup_customers ON COMMIT DROP AS
        SELECT customer_id FROM rollup_orders WHERE customer_id IS NOT NULL
        UNION
        SELECT f.customer_id FROM analytics.order_facts f
        WHERE f.customer_id IS NOT NULL
          AND (f.day IN (SELECT day FROM rollup_days) OR f.order_id IN (SELECT order_id FROM rollup_orders))""",
    "DELETE FROM analytics.customer_revenue WHERE customer_id IN (SELECT customer_id FROM rollup_customers)",
    """INSERT INTO analytics.customer_revenue (customer_id, currency, orders, revenue, customer_orders)
        SELECT o.customer_id, o.currency, count(*), sum(o.total_amount),
               sum(count(*)) OVER (PARTITION BY o.customer_id)
        FROM warehouse.orders o
        WHERE o.customer_id IN (SELECT customer_id FROM rollup_customers) AND o.status = ANY(%(statuses)s)
        GROUP BY 1, 2""",
    """DELETE FROM analytics.order_facts f
        WHERE f.day IN (SELECT day FROM rollup_days) OR f.order_id IN (SELECT order_id FROM rollup_orders)""",
    """INSERT INTO analytics.order_facts (order_id, day, customer_id, country)
        SELECT order_id, day, customer_id, country FROM rollup_orders""",
    "DROP TABLE rollup_days, rollup_orders, rollup_lines, rollup_months, rollup_customers",
]

_PRODUCT_FACTS = """
    INSERT INTO analytics.product_facts AS f (sku, category)
    SELECT sku, category FROM warehouse.products p WHERE %(partition)s::date IS NULL OR p._partition = %(partition)s
    ON CONFLICT (sku) DO UPDATE SET category = excluded.category"""

_STATE = """
    INSERT INTO analytics.rollup_state AS s (name, refreshed_at, revenue_statuses, days_refreshed)
    VALUES (%(name)s, now(), %(statuses)s, %(n)s)
    ON CONFLICT (name) DO UPDATE SET refreshed_at = excluded.refreshed_at,
        revenue_statuses = excluded.revenue_statuses, days_refreshed = excluded.days_refreshed"""


_COVERAGE = """
    INSERT INTO analytics.rollup_coverage AS c (dataset, partition_date, loads, refreshed_at)
    SELECT dataset, partition_date, loads, now() FROM analytics.rollup_loads
    WHERE dataset = ANY(%(datasets)s) AND (%(partition)s::date IS NULL OR partition_date = %(partition)s)
    ON CONFLICT (dataset, partition_date) DO UPDATE SET loads = excluded.loads, refreshed_at = excluded.refreshed_at"""


def record_coverage(cur, datasets: tuple[str, ...], partition: date | None) -> None:
    """Note the loads of these datasets (of one partition, or all) as absorbed by the refresh that
    follows in the same transaction. Run first: a load committed later stays visibly stale."""
    cur.execute("SELECT to_regclass('analytics.rollup_coverage') IS NOT NULL")
    if cur.fetchone()[0]:  # absent while migrations before 0009 run
        cur.execute(_COVERAGE, {"datasets": list(datasets), "partition": partition})


def _bound(extra: dict | None = None) -> dict:
    return {"statuses": list(REVENUE_STATUSES), **(extra or {})}


def refresh_days(cur, days: list[date]) -> int:
    """Recompute every rollup row of these days (and their months); returns how many days."""
    days = sorted(set(days))
    if days:
        for statement in _REFRESH_DAYS:
            cur.execute(statement, _bound({"days": days}))
    cur.execute(_STATE, _bound({"name": STATE_NAME, "n": len(days)}))
    return len(days)


def affected_days(cur, dataset: str, partition: date) -> list[date]:
    """The days whose rollups a load of this dataset and partition may have changed."""
    if dataset not in _AFFECTED:
        return []
    cur.execute(_AFFECTED[dataset], {"partition": partition})
    return [row[0] for row in cur.fetchall()]


def refresh_after_load(conn: psycopg.Connection, dataset: str, partition: date) -> int | None:
    """Bring the rollups up to date after ``dataset``'s ``partition`` was merged; in the caller's
    transaction (the caller commits). Returns the number of days recomputed, None if not rolled up."""
    if dataset not in ROLLED_UP_DATASETS:
        return None
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        record_coverage(cur, (dataset,), partition)
        days = affected_days(cur, dataset, partition)
        count = refresh_days(cur, days)
        if dataset == "products":
            cur.execute(_PRODUCT_FACTS, {"partition": partition})
    return count


def refresh_partition(conn: psycopg.Connection, partition: date) -> int:
    """What the ``analytics/sales_rollups`` asset runs after loads of ``partition``: every day any of
    the rolled-up datasets' loads of that partition may have changed, recomputed once. In the
    caller's transaction; returns the number of days recomputed."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        record_coverage(cur, ROLLED_UP_DATASETS, partition)
        days = sorted({day for dataset in ROLLED_UP_DATASETS for day in affected_days(cur, dataset, partition)})
        count = refresh_days(cur, days)
        cur.execute(_PRODUCT_FACTS, {"partition": partition})
    return count


def rebuild(conn: psycopg.Connection) -> int:
    """Recompute all rollups from the warehouse (in the caller's transaction); returns the days."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        record_coverage(cur, ROLLED_UP_DATASETS, None)
        cur.execute(_ALL_DAYS)
        days = [row[0] for row in cur.fetchall()]
        for table in ROLLUP_TABLES:  # names from this module's allow-list
            cur.execute(f"DELETE FROM analytics.{table}")
        cur.execute(_PRODUCT_FACTS, {"partition": None})
        count = refresh_days(cur, days)
    return count
