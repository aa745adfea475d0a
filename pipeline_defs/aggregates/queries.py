"""The business aggregates as SQL over the warehouse; each returns the items of one day.

Days are UTC. Facts with their own clock are counted on it (orders by ``order_ts``, web events by
``occurred_at``, ticks by ``ts``), so a late-arriving file still lands on the day it happened;
customers, which have no event time, are counted by the day's CRM feed (``_partition``).
Revenue counts orders that are paid, shipped or delivered (not pending, cancelled or refunded).
All SQL is static text with bound parameters.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from pipeline_defs.contracts.stream_records import ARCHIVE_KEY_SQL

REVENUE_STATUSES = ("paid", "shipped", "delivered")
TOP_PRODUCTS = 10

ORDER_DAY = "order_ts >= %(start)s AND order_ts < %(end)s"
EVENT_DAY = "occurred_at >= %(start)s AND occurred_at < %(end)s"
TICK_DAY = "ts >= %(start)s AND ts < %(end)s"
IS_REVENUE = "status = ANY(%(statuses)s)"


def day_params(day: date) -> dict:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return {"day": day, "start": start, "end": start + timedelta(days=1),
            "statuses": list(REVENUE_STATUSES), "top": TOP_PRODUCTS}


def rows(cur, query: str, params: dict) -> list[dict]:
    cur.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def revenue(cur, day: date) -> list[dict]:
    """Revenue and orders by currency and channel."""
    found = rows(cur, f"""
        SELECT currency, coalesce(channel, 'unknown') AS channel, count(*) AS orders, sum(total_amount) AS revenue
        FROM warehouse.orders WHERE {ORDER_DAY} AND {IS_REVENUE}
        GROUP BY 1, 2 ORDER BY 1, 2""", day_params(day))
    return [{"sk": f"{r['currency']}#{r['channel']}", **r, "revenue": _money(r["revenue"])} for r in found]


def orders(cur, day: date) -> list[dict]:
    """Orders, revenue and average order value per currency, orders per status, and a day total.

    The ``total`` item is written even on a day without orders: it tells "computed, zero" apart
    from "never computed" in the report's trend.
    """
    params = day_params(day)
    (total,) = rows(cur, f"""
        SELECT count(*) AS orders, count(*) FILTER (WHERE {IS_REVENUE}) AS revenue_orders,
               count(DISTINCT customer_id) AS customers
        FROM warehouse.orders WHERE {ORDER_DAY}""", params)
    (lines,) = rows(cur, f"""
        SELECT count(*) AS order_lines, coalesce(sum(i.quantity), 0)::bigint AS units
        FROM warehouse.order_items i JOIN warehouse.orders o ON o.order_id = i.order_id
        WHERE o.{ORDER_DAY}""", params)
    items = [{"sk": "total", **total, **lines}]
    for r in rows(cur, f"""
            SELECT currency, count(*) AS orders, count(*) FILTER (WHERE {IS_REVENUE}) AS revenue_orders,
                   coalesce(sum(total_amount) FILTER (WHERE {IS_REVENUE}), 0) AS revenue
            FROM warehouse.orders WHERE {ORDER_DAY} GROUP BY currency ORDER BY currency""", params):
        aov = _money(r["revenue"] / r["revenue_orders"]) if r["revenue_orders"] else None
        items.append({"sk": f"currency#{r['currency']}", **r, "revenue": _money(r["revenue"]), "aov": aov})
    for r in rows(cur, f"""
            SELECT status, count(*) AS orders FROM warehouse.orders WHERE {ORDER_DAY}
            GROUP BY status ORDER BY status""", params):
        items.append({"sk": f"status#{r['status']}", **r})
    return items


def new_customers(cur, day: date) -> list[dict]:
    """Customers delivered by the day's CRM feed, by segment and country."""
    found = rows(cur, """
        SELECT coalesce(segment, 'unknown') AS segment, country, count(*) AS customers
        FROM warehouse.customers WHERE _partition = %(day)s GROUP BY 1, 2 ORDER BY 1, 2""", day_params(day))
    return [{"sk": f"{r['segment']}#{r['country']}", **r} for r in found]


def top_products(cur, day: date) -> list[dict]:
    """The day's best sellers by units in revenue orders (ties by SKU), with revenue per currency.

    A SKU missing from the catalogue (its product row was quarantined or not loaded yet) still ranks,
    without name and category.
    """
    found = rows(cur, f"""
        WITH lines AS (
            SELECT i.sku, o.currency, i.order_id, i.quantity, i.quantity * i.unit_price AS amount
            FROM warehouse.order_items i JOIN warehouse.orders o ON o.order_id = i.order_id
            WHERE o.{ORDER_DAY} AND o.{IS_REVENUE}),
        per_currency AS (SELECT sku, currency, sum(amount) AS revenue FROM lines GROUP BY sku, currency),
        per_sku AS (SELECT sku, sum(quantity)::bigint AS units, count(DISTINCT order_id) AS orders FROM lines GROUP BY sku)
        SELECT s.sku, p.name, p.category,
               s.units, s.orders,
               (SELECT array_agg(c.currency ORDER BY c.currency) FROM per_currency c WHERE c.sku = s.sku) AS currencies,
               (SELECT array_agg(c.revenue ORDER BY c.currency) FROM per_currency c WHERE c.sku = s.sku) AS amounts
        FROM per_sku s LEFT JOIN warehouse.products p ON p.sku = s.sku
        ORDER BY s.units DESC, s.sku LIMIT %(top)s""", day_params(day))
    items = []
    for rank, r in enumerate(found, start=1):
        revenue_by_currency = {c: _money(a) for c, a in zip(r.pop("currencies"), r.pop("amounts"))}
        items.append({"sk": f"rank#{rank:02d}", "rank": rank, **r, "revenue": revenue_by_currency})
    return items


def web_events(cur, day: date) -> list[dict]:
    """Events by type and device (users, sessions), page-load p50/p95 per device, and the stream archive's share."""
    params = day_params(day)
    items = [{"sk": f"type#{r['event_type']}#{r['device_type']}", **r} for r in rows(cur, f"""
        SELECT event_type, coalesce(device_type, 'unknown') AS device_type, count(*) AS events,
               count(DISTINCT user_id) AS users, count(DISTINCT session_id) AS sessions
        FROM warehouse.web_events WHERE {EVENT_DAY} GROUP BY 1, 2 ORDER BY 1, 2""", params)]
    for r in rows(cur, f"""
            SELECT CASE WHEN grouping(device_type) = 1 THEN 'all' ELSE coalesce(device_type, 'unknown') END AS device,
                   count(*) AS page_views,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY load_ms) AS p50_ms,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY load_ms) AS p95_ms,
                   avg(load_ms) AS mean_ms
            FROM (SELECT device_type, (properties->>'load_time_ms')::double precision AS load_ms
                  FROM warehouse.web_events
                  WHERE {EVENT_DAY} AND event_type = 'page_view' AND properties->>'load_time_ms' IS NOT NULL) v
            GROUP BY GROUPING SETS ((), (device_type)) ORDER BY 1""", params):
        if r["page_views"]:
            items.append({"sk": f"page_load#{r['device']}", **r})
    return items + _from_stream_archive(cur, day)


def _from_stream_archive(cur, day: date) -> list[dict]:
    """Per event type, the hot path's records the batch path loaded from the stream archive that day.

    Counted per ``event_id`` over the warehouse rows and their ``duplicate:key`` rejects, like the
    ``realtime_matches_batch`` check, so a redelivered batch and a client's re-send count once — as
    the real-time counters count them.
    """
    found = rows(cur, """
        WITH archived AS (
            SELECT event_type, event_id FROM warehouse.web_events
            WHERE _partition = %(day)s AND _source_key ~ %(archive)s
          UNION ALL
            SELECT q.record::jsonb ->> 'event_type', q.record::jsonb ->> 'event_id'
            FROM ops.quarantine q
            WHERE q.dataset = 'web_events' AND q.partition_date = %(day)s AND q.reason = 'duplicate:key'
              AND q.source_key ~ %(archive)s)
        SELECT event_type, count(DISTINCT event_id) AS records
        FROM archived WHERE event_type IS NOT NULL GROUP BY 1 ORDER BY 1""",
        {**day_params(day), "archive": ARCHIVE_KEY_SQL})
    return [{"sk": f"archive#{r['event_type']}", **r} for r in found]


def purchases(cur, day: date) -> list[dict]:
    """Purchase events: count and amount per currency."""
    found = rows(cur, f"""
        SELECT coalesce(properties->>'currency', 'unknown') AS currency, count(*) AS purchases,
               coalesce(sum((properties->>'amount')::numeric), 0) AS amount
        FROM warehouse.web_events WHERE {EVENT_DAY} AND event_type = 'purchase'
        GROUP BY 1 ORDER BY 1""", day_params(day))
    return [{"sk": r["currency"], **r, "amount": _money(r["amount"])} for r in found]


def errors(cur, day: date) -> list[dict]:
    """Error events by error type, with the users they hit."""
    found = rows(cur, f"""
        SELECT coalesce(properties->>'error_type', 'unknown') AS error_type, count(*) AS events,
               count(DISTINCT user_id) AS users
        FROM warehouse.web_events WHERE {EVENT_DAY} AND event_type = 'error'
        GROUP BY 1 ORDER BY 1""", day_params(day))
    return [{"sk": r["error_type"], **r} for r in found]


_OHLC = """(array_agg(price ORDER BY ts))[1] AS open, max(price) AS high, min(price) AS low,
           (array_agg(price ORDER BY ts DESC))[1] AS close, coalesce(sum(volume), 0) AS volume,
           count(*) AS ticks, min(ts) AS first_ts, max(ts) AS last_ts"""


def market_daily(cur, day: date) -> list[dict]:
    """Open, high, low, close and volume per symbol for the day."""
    found = rows(cur, f"SELECT symbol, {_OHLC} FROM warehouse.market_ticks WHERE {TICK_DAY}"
                      " GROUP BY symbol ORDER BY symbol", day_params(day))
    return [{"sk": r["symbol"], **r} for r in found]


def market_5m(cur, day: date) -> list[dict]:
    """OHLC and volume per symbol per 5-minute bucket (bucket = its UTC start, HH:MM)."""
    found = rows(cur, f"""
        SELECT symbol, to_char(date_bin('5 minutes', ts, %(start)s) AT TIME ZONE 'UTC', 'HH24:MI') AS bucket, {_OHLC}
        FROM warehouse.market_ticks WHERE {TICK_DAY} GROUP BY 1, 2 ORDER BY 1, 2""", day_params(day))
    return [{"sk": f"{r['symbol']}#{r['bucket']}", **r} for r in found]
