"""The ``analytics`` group: what the analytics API reads, precomputed after warehouse loads.

``analytics/sales_rollups``: the per-day sales rollups (pipeline_defs/rollups.py) brought up to date
for any partition (past days included) after its orders, customers or products load, then ``AnalyticsRefreshed`` so the
API's cached answers for those datasets are dropped. Kept out of the loads so they do not wait for it.

``analytics/customer_duplicates``: candidate duplicate customers matched after each customers load.

The trigram matching (pipeline_defs/customer_matching.py) compares the partition's new and changed
customers with everyone and stores the pairs in ``analytics.customer_pairs``, so
``data_integrity_analysis`` reads them instead of probing the index per customer. The API stays
exact without it (it matches live what the last run has not seen); this asset only makes it fast.
"""

from datetime import date

import json

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from pipeline_defs.customer_matching import match_customers
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.rollups import ROLLED_UP_DATASETS, refresh_partition
from pipeline_defs.settings import get_settings
from resources.aws import EventBridgeResource
from resources.postgres import PostgresResource
from sensors.automation import upstream_changed


def publish_analytics_refreshed(events, bus: str, datasets: tuple[str, ...], partition: str) -> None:
    events.put_events(Entries=[{
        "Source": "data-pipeline", "DetailType": "AnalyticsRefreshed", "EventBusName": bus,
        "Detail": json.dumps({"dataset": dataset, "partition": partition}),
    } for dataset in datasets])


@asset(
    key=AssetKey(["analytics", "sales_rollups"]),
    deps=[AssetKey(["warehouse", table]) for table in ("orders", "order_items", "customers", "products")],
    partitions_def=daily_partitions,
    group_name="analytics",
    kinds={"postgres"},
    automation_condition=upstream_changed(again_after_own_run=True),
    description="analytics.sales_daily & co.: per-day sales rollups for customer_analysis, revenue_analysis and "
                "multi_dimensional_analytics, recomputed for the days the partition's loads changed.",
)
def sales_rollups(context: AssetExecutionContext, postgres: PostgresResource,
                  eventbridge: EventBridgeResource) -> MaterializeResult:
    with postgres.connection() as conn:
        days = refresh_partition(conn, date.fromisoformat(context.partition_key))
        conn.commit()
    publish_analytics_refreshed(eventbridge.get_client(), get_settings().names.event_bus, ROLLED_UP_DATASETS,
                                context.partition_key)
    context.log.info(f"sales rollups: {days} day(s) recomputed")
    return MaterializeResult(metadata={"days_recomputed": days})


@asset(
    key=AssetKey(["analytics", "customer_duplicates"]),
    deps=[AssetKey(["warehouse", "customers"])],
    partitions_def=daily_partitions,
    group_name="analytics",
    kinds={"postgres"},
    automation_condition=upstream_changed(again_after_own_run=True),
    description="analytics.customer_pairs: candidate duplicate customers (pg_trgm), matched after each "
                "customers load for the partition's new and changed customers.",
)
def customer_duplicates(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    with postgres.connection() as conn:
        probed = match_customers(conn, partition=date.fromisoformat(context.partition_key))
    if probed is None:
        context.log.info("pg_trgm is not installed: the API matches exact normalised values instead")
    return MaterializeResult(metadata={"customers_probed": probed or 0, "pg_trgm": probed is not None})


analytics_assets = [sales_rollups, customer_duplicates]
