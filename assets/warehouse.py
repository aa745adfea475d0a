"""``warehouse/<table>``: the day's validated rows merged into PostgreSQL.

One multi-asset per dataset (orders brings ``orders`` and ``order_items``) so that all its tables
change in one transaction. Checks: key uniqueness and referential integrity (orphans warn).
A ``PartitionLoaded`` event goes to EventBridge after each successful load.
"""


import json
from datetime import date, timedelta
from typing import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AssetsDefinition,
    Backoff,
    FreshnessPolicy,
    MaterializeResult,
    RetryPolicy,
    multi_asset,
)
from dagster_aws.s3 import S3Resource

from pipeline_defs.batch.audit import partition_audit
from pipeline_defs.batch.checks import duplicate_keys, orphans, references_of
from pipeline_defs.batch.load import load_partition
from pipeline_defs.contract_metadata import table_schema
from pipeline_defs.contracts import CONTRACTS, Contract
from pipeline_defs import partition_stats
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings
from pipeline_defs.state import FileState, put_states
from resources.aws import DynamoDBResource, EventBridgeResource
from resources.postgres import PostgresResource
from sensors.automation import upstream_changed


def _tables(contract: Contract) -> list[tuple[str, tuple[str, ...]]]:
    return [(contract.table, tuple(contract.key)), *((c.table, tuple(c.key)) for c in contract.children)]


def _check_specs(contract: Contract) -> list[AssetCheckSpec]:
    specs = []
    for table, _ in _tables(contract):
        key = AssetKey(["warehouse", table])
        specs.append(AssetCheckSpec("key_unique", asset=key, description="no duplicate keys in the partition"))
        for column in references_of(table):
            specs.append(AssetCheckSpec(f"no_orphan_{column}", asset=key,
                                        description=f"every {column} exists in its parent table (warns)"))
    return specs


def publish_partition_loaded(events, bus: str, dataset: str, partition: date, counts: dict) -> None:
    events.put_events(Entries=[{
        "Source": "data-pipeline", "DetailType": "PartitionLoaded", "EventBusName": bus,
        "Detail": json.dumps({"dataset": dataset, "partition": partition.isoformat(), "counts": counts}),
    }])


def build_warehouse_assets(contract: Contract) -> AssetsDefinition:
    specs = [
        AssetSpec(
            key=AssetKey(["warehouse", table]),
            deps=[AssetKey(["validated", contract.name])],
            group_name="warehouse",
            kinds={"postgres"},
            description=f"warehouse.{table}: canonical {contract.name} rows (upserted; a later updated_at wins).",
            metadata={"dagster/column_schema": table_schema(contract, table),
                      "dagster/table_name": f"warehouse.{table}"},
            automation_condition=upstream_changed(),  # validated materialised alone (a backfill)
            freshness_policy=FreshnessPolicy.cron(deadline_cron="0 7 * * *", lower_bound_delta=timedelta(hours=24)),
        )
        for table, _ in _tables(contract)
    ]

    @multi_asset(
        name=f"warehouse_{contract.name}",
        specs=specs,
        partitions_def=daily_partitions,
        check_specs=_check_specs(contract),
        retry_policy=RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL),
    )
    def _warehouse(context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource,
                   eventbridge: EventBridgeResource, dynamodb: DynamoDBResource) -> Iterator[MaterializeResult | AssetCheckResult]:
        partition = date.fromisoformat(context.partition_key)
        names = get_settings().names
        with postgres.connection() as conn:
            loads = load_partition(conn, s3.get_client(), names.processed_bucket, contract, partition, context.run.run_id)
            with conn.cursor() as cur:
                checks = []
                for table, key in _tables(contract):
                    dupes = duplicate_keys(cur, table, key, partition)
                    checks.append(AssetCheckResult(asset_key=AssetKey(["warehouse", table]), check_name="key_unique",
                                                   passed=dupes == 0, metadata={"duplicate_rows": dupes}))
                    for column in references_of(table):
                        count, examples = orphans(cur, table, column, partition)
                        checks.append(AssetCheckResult(
                            asset_key=AssetKey(["warehouse", table]), check_name=f"no_orphan_{column}",
                            passed=count == 0, severity=AssetCheckSeverity.WARN,
                            metadata={"orphans": count, "examples": ", ".join(examples) or "none"}))
                files = partition_audit(cur, contract.name, partition)
            partition_stats.refresh_after_load(conn, contract.name, partition)
            conn.commit()
        put_states(dynamodb.get_client(), names.state_table, [
            FileState(key=f["source_key"], etag=f["etag"] or "", dataset=contract.name, partition=partition.isoformat(),
                      status=f["status"], size=f["size_bytes"] or 0, rows_in=f["rows_in"], rows_loaded=f["rows_loaded"],
                      rows_quarantined=f["rows_quarantined"], reason=f["reason"] or "", run_id=context.run.run_id)
            for f in files])
        for load in loads:
            context.log.info(f"warehouse.{load.table} {partition}: {load.staged} staged, {load.inserted} inserted, "
                             f"{load.updated} updated, {load.unchanged} unchanged")
            yield MaterializeResult(asset_key=AssetKey(["warehouse", load.table]), metadata={
                "rows_in_partition": load.staged, "inserted": load.inserted, "updated": load.updated,
                "unchanged_or_older": load.unchanged, "replaced_children": load.deleted,
            })
        yield from checks
        publish_partition_loaded(eventbridge.get_client(), names.event_bus, contract.name, partition,
                                 {load.table: load.staged for load in loads})

    return _warehouse


warehouse_assets = [build_warehouse_assets(contract) for contract in CONTRACTS.values()]
