"""DynamoDB aggregates: business metrics computed in PostgreSQL, stored for fast reads.

The registry below is the one list of aggregates: the Dagster assets, the jobs and the report are
built from it. DynamoDB layout (``pipeline-aggregates``): ``pk=<name>#<YYYY-MM-DD>``,
``sk=<dimension values>`` as each entry's ``sort_key`` says; see README "Aggregates".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from pipeline_defs.aggregates import queries
from pipeline_defs.aggregates.quality import data_quality
from pipeline_defs.aggregates.store import ReplaceSummary, read_partition, replace_partition


@dataclass(frozen=True)
class Aggregate:
    name: str
    description: str
    sort_key: str  # how items of one day are keyed, for docs and the UI
    tables: tuple[str, ...]  # the warehouse tables it reads (its upstream assets)
    compute: Callable[[object, date], list[dict]]

    def pk(self, day: date | str) -> str:
        return f"{self.name}#{day if isinstance(day, str) else day.isoformat()}"


_ALL_TABLES = ("customers", "products", "orders", "order_items", "web_events", "market_ticks")

AGGREGATES: dict[str, Aggregate] = {a.name: a for a in (
    Aggregate("revenue", "Revenue and orders by currency and sales channel (paid, shipped, delivered orders).",
              "<currency>#<channel>", ("orders",), queries.revenue),
    Aggregate("orders", "Orders, revenue and average order value per currency; orders per status; a day total.",
              "total | currency#<currency> | status#<status>", ("orders", "order_items"), queries.orders),
    Aggregate("new_customers", "Customers delivered by the day's CRM feed, by segment and country.",
              "<segment>#<country>", ("customers",), queries.new_customers),
    Aggregate("top_products", "The 10 best-selling products by units, with revenue per currency.",
              "rank#NN", ("orders", "order_items", "products"), queries.top_products),
    Aggregate("web_events", "Web events by type and device (users, sessions); page-load p50/p95 per device; "
                            "records loaded from the hot path's stream archive per type.",
              "type#<event_type>#<device> | page_load#<device|all> | archive#<event_type>", ("web_events",),
              queries.web_events),
    Aggregate("purchases", "Purchase events: count and amount per currency.",
              "<currency>", ("web_events",), queries.purchases),
    Aggregate("errors", "Error events by error type, with the users affected.",
              "<error_type>", ("web_events",), queries.errors),
    Aggregate("market_daily", "Open, high, low, close and volume per symbol for the day.",
              "<symbol>", ("market_ticks",), queries.market_daily),
    Aggregate("market_5m", "Open, high, low, close and volume per symbol per 5-minute bucket (UTC).",
              "<symbol>#<HH:MM>", ("market_ticks",), queries.market_5m),
    Aggregate("data_quality", "Per dataset: files, rows loaded/quarantined, top reasons, checks passed, score.",
              "<dataset>", _ALL_TABLES, data_quality),
)}


def compute_and_store(conn, ddb, table: str, aggregate: Aggregate, day: date) -> tuple[list[dict], ReplaceSummary]:
    """Compute one aggregate for one day (one consistent transaction) and replace its DynamoDB items."""
    with conn.transaction(), conn.cursor() as cur:
        items = aggregate.compute(cur, day)
    return items, replace_partition(ddb, table, aggregate.pk(day), items)


__all__ = ["AGGREGATES", "Aggregate", "compute_and_store", "read_partition", "replace_partition"]
