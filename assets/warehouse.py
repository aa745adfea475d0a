"""``warehouse/<table>``: the day's validated rows merged into PostgreSQL.

One multi-asset per dataset (orders brings ``orders`` and ``order_items``) so that all its tables
change in one transaction. Blocking checks run on the staged partition BEFORE the merge (row
equation against ``ops.load_audit``, key uniqueness): when one fails nothing is merged, no
``PartitionLoaded`` goes out and the run fails naming the check (``assets/blocking.py``).
Referential integrity (orphans) is checked after the merge and only warns.
A ``PartitionLoaded`` event goes to EventBridge after each successful load.
"""


import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
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
    MetadataValue,
    RetryPolicy,
    multi_asset,
)
from dagster_aws.s3 import S3Resource

from assets.blocking import stop_if_blocked
from assets.freshness import DEADLINE_CRON
from pipeline_defs.batch.audit import merge_table, partition_audit
from pipeline_defs.batch.checks import audited_valid_rows, orphans, references_of, staged_duplicates
from pipeline_defs.batch.load import load_partition
from pipeline_defs.contract_metadata import table_schema
from pipeline_defs.contracts import CONTRACTS, Contract
from pipeline_defs import partition_stats
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings
from pipeline_defs.state import MERGE_COUNTS, FileState, put_states
from resources.aws import DynamoDBResource, EventBridgeResource
from resources.postgres import PostgresResource
from sensors.automation import upstream_changed


def _tables(contract: Contract) -> list[tuple[str, tuple[str, ...]]]:
    return [(contract.table, tuple(contract.key)), *((c.table, tuple(c.key)) for c in contract.children)]


def _check_specs(contract: Contract) -> list[AssetCheckSpec]:
    specs = []
    for table, _ in _tables(contract):
        key = AssetKey(["warehouse", table])
        if table == contract.table:
            specs.append(AssetCheckSpec(
                "row_equation", asset=key, blocking=True,
                description="before the merge: the lake partition holds exactly the rows validation counted"
                            " valid (ops.load_audit); a failure blocks the merge"))
        specs.append(AssetCheckSpec("key_unique", asset=key, blocking=True,
                                    description="before the merge: no key twice in the staged partition;"
                                                " a failure blocks the merge"))
        for column in references_of(table):
            specs.append(AssetCheckSpec(f"no_orphan_{column}", asset=key,
                                        description=f"every {column} exists in its parent table (warns)"))
    return specs


def pre_merge_checks(cur, contract: Contract, partition: date, staged: dict) -> list[AssetCheckResult]:
    """The blocking checks on the staged partition (``staged``: table -> (staging table, rows))."""
    _, rows = staged[contract.table]
    valid = audited_valid_rows(cur, contract.name, partition)
    results = [AssetCheckResult(
        asset_key=AssetKey(["warehouse", contract.table]), check_name="row_equation", passed=rows == valid,
        metadata={"rows_staged": rows, "rows_valid_in_audit": valid},
        description=None if rows == valid else
        f"the lake holds {rows} {contract.table} rows for {partition} but validation counted {valid} valid"
        " (ops.load_audit); re-materialise validated/" + contract.name)]
    for table, key in _tables(contract):
        count, examples = staged_duplicates(cur, staged[table][0], key)
        results.append(AssetCheckResult(
            asset_key=AssetKey(["warehouse", table]), check_name="key_unique", passed=count == 0,
            metadata={"duplicate_rows": count, "examples": ", ".join(examples) or "none"},
            description=None if count == 0 else
            f"{count} staged {table} row(s) for {partition} repeat a key ({', '.join(key)}), e.g. {', '.join(examples)}"))
    return results


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
            freshness_policy=FreshnessPolicy.cron(deadline_cron=DEADLINE_CRON, lower_bound_delta=timedelta(hours=24)),
        )
        for table, _ in _tables(contract)
    ]

    check_specs = _check_specs(contract)

    @multi_asset(
        name=f"warehouse_{contract.name}",
        specs=specs,
        partitions_def=daily_partitions,
        check_specs=check_specs,
        retry_policy=RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL),
    )
    def _warehouse(context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource,
                   eventbridge: EventBridgeResource, dynamodb: DynamoDBResource) -> Iterator[MaterializeResult | AssetCheckResult]:
        partition = date.fromisoformat(context.partition_key)
        names = get_settings().names
        gate: list[AssetCheckResult] = []

        def checked(cur, staged: dict) -> bool:
            gate.extend(pre_merge_checks(cur, contract, partition, staged))
            return all(r.passed for r in gate)

        with postgres.connection() as conn, tempfile.TemporaryDirectory(prefix=f"load-{contract.name}-") as tmp:
            loads = load_partition(conn, s3.get_client(), names.processed_bucket, contract, partition, Path(tmp),
                                   context.run.run_id, gate=checked)
            if loads is None:  # blocked: the checks say why, nothing was merged
                yield from gate
                stop_if_blocked(check_specs, gate, f"warehouse merge of {contract.name} {partition} not run,"
                                                   " nothing published")
            with conn.cursor() as cur:
                checks = list(gate)
                for table, _ in _tables(contract):
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
                      rows_quarantined=f["rows_quarantined"], reason=f["reason"] or "", run_id=context.run.run_id,
                      version_id=f["version_id"] or "", **{name: f[name] or 0 for name in MERGE_COUNTS})
            for f in files])
        for load in loads:
            context.log.info(f"warehouse.{load.table} {partition}: {load.staged} staged, {load.inserted} inserted, "
                             f"{load.updated} updated, {load.unchanged} unchanged, {load.superseded} superseded")
            yield MaterializeResult(asset_key=AssetKey(["warehouse", load.table]), metadata={
                "rows_staged": load.staged, "inserted": load.inserted, "updated": load.updated,
                "unchanged": load.unchanged, "superseded_by_newer": load.superseded,
                "replaced_children": load.deleted,
                "lake_partitions_rewritten": MetadataValue.json({d.isoformat(): keys for d, keys in load.lake.items()}),
                **({"per_file": MetadataValue.md(merge_table(files))} if load.table == contract.table else {}),
            })
        yield from checks
        publish_partition_loaded(eventbridge.get_client(), names.event_bus, contract.name, partition,
                                 {load.table: load.staged for load in loads})

    return _warehouse


warehouse_assets = [build_warehouse_assets(contract) for contract in CONTRACTS.values()]
