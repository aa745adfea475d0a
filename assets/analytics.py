"""``analytics/customer_duplicates``: candidate duplicate customers matched after each customers load.

The trigram matching (pipeline_defs/customer_matching.py) compares the partition's new and changed
customers with everyone and stores the pairs in ``analytics.customer_pairs``, so
``data_integrity_analysis`` reads them instead of probing the index per customer. The API stays
exact without it (it matches live what the last run has not seen); this asset only makes it fast.
"""

from datetime import date

from dagster import AssetExecutionContext, AssetKey, AutomationCondition, MaterializeResult, asset

from pipeline_defs.customer_matching import match_customers
from pipeline_defs.partitions import daily_partitions
from resources.postgres import PostgresResource


@asset(
    key=AssetKey(["analytics", "customer_duplicates"]),
    deps=[AssetKey(["warehouse", "customers"])],
    partitions_def=daily_partitions,
    group_name="analytics",
    kinds={"postgres"},
    automation_condition=AutomationCondition.eager(),
    description="analytics.customer_pairs: candidate duplicate customers (pg_trgm), matched after each "
                "customers load for the partition's new and changed customers.",
)
def customer_duplicates(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    with postgres.connection() as conn:
        probed = match_customers(conn, partition=date.fromisoformat(context.partition_key))
    if probed is None:
        context.log.info("pg_trgm is not installed: the API matches exact normalised values instead")
    return MaterializeResult(metadata={"customers_probed": probed or 0, "pg_trgm": probed is not None})


analytics_assets = [customer_duplicates]
