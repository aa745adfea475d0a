"""Blocking checks stop bad data before the warehouse merge: nothing merged, nothing published, a clear reason.

Real PostgreSQL, moto (S3, EventBridge → its local inbox queue, DynamoDB), Dagster's `materialize`.
"""

from __future__ import annotations

import io
import json
from datetime import date

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetKey, DagsterEventType, materialize

import pipeline_defs.batch.validate as validate_module
from pipeline_defs.batch.lake import part_key
from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.resources import build_resources
from pipeline_defs.state import get_states
from tests.assets.test_batch_path import ALL_ASSETS, DAY, customer, put, query
from tests.assets.test_report import drain

RAW, VALIDATED, WAREHOUSE = (AssetKey([layer, "customers"]) for layer in ("raw", "validated", "warehouse"))


def run(settings, *keys: AssetKey, day: date = DAY):
    return materialize(ALL_ASSETS, partition_key=day.isoformat(), resources=build_resources(settings),
                       selection=list(keys), raise_on_error=False)


def failure_messages(result) -> list[str]:
    """The first line of each step failure: what the run shows and the run-failure alert sends."""
    return [event.step_failure_data.error.message.strip().splitlines()[0] for event in result.all_events
            if event.event_type == DagsterEventType.STEP_FAILURE]


def evaluations(result) -> dict[tuple[str, str], object]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def partition_loaded_events(settings) -> list[dict]:
    return [e for e in drain(inbox_queue_name(settings.names.event_bus)) if e["detail-type"] == "PartitionLoaded"]


def file_statuses(settings) -> list[str]:
    states = get_states(boto3.client("dynamodb"), settings.names.state_table, ["crm/customers/dt=2026-11-20/c.jsonl"])
    return [state.status for state in states.values()]


def upload_two_customers(settings) -> None:
    put(settings, "crm/customers/dt=2026-11-20/c.jsonl",
        "\n".join(json.dumps(customer(n)) for n in (1, 2)).encode())


def test_duplicate_keys_in_staging_block_the_merge_and_publish_nothing(pipeline_env, database_url):
    upload_two_customers(pipeline_env)
    assert run(pipeline_env, RAW, VALIDATED).success
    # a stray part in the staged partition (e.g. a writer that crashed mid-rename): every key twice
    s3 = boto3.client("s3")
    bucket, first = pipeline_env.names.processed_bucket, part_key("customers", DAY, 0, staged=True)
    stray = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=first)["Body"].read()))
    stray = stray.set_column(stray.schema.get_field_index("city"), "city", pa.array(["stray"] * stray.num_rows))
    sink = io.BytesIO()
    pq.write_table(stray, sink)
    s3.put_object(Bucket=bucket, Key=part_key("customers", DAY, 1, staged=True), Body=sink.getvalue())
    partition_loaded_events(pipeline_env)  # nothing before the merge attempt counts

    blocked = run(pipeline_env, WAREHOUSE)

    assert not blocked.success
    checks = evaluations(blocked)
    unique = checks[("warehouse/customers", "key_unique")]
    assert not unique.passed and unique.metadata["duplicate_rows"].value == 2
    assert unique.metadata["examples"].value == "C1, C2"
    equation = checks[("warehouse/customers", "row_equation")]
    assert not equation.passed
    assert (equation.metadata["rows_staged"].value, equation.metadata["rows_valid_in_audit"].value) == (4, 2)
    (message,) = failure_messages(blocked)
    assert "warehouse merge of customers 2026-11-20 not run" in message
    assert "warehouse/customers key_unique: 2 staged customers row(s) for 2026-11-20 repeat a key" in message
    assert not blocked.get_asset_materialization_events()
    assert query(database_url, "SELECT count(*) FROM warehouse.customers") == [(0,)]
    assert query(database_url, "SELECT DISTINCT status FROM ops.load_audit") == [("validated",)]
    assert partition_loaded_events(pipeline_env) == []
    assert file_statuses(pipeline_env) == []  # the processing state is written by a merge only

    s3.delete_object(Bucket=bucket, Key=part_key("customers", DAY, 1, staged=True))  # the staging repaired: the same run merges
    assert run(pipeline_env, WAREHOUSE).success
    assert query(database_url, "SELECT customer_id, city FROM warehouse.customers ORDER BY 1") == [
        ("C1", None), ("C2", None)]
    (event,) = partition_loaded_events(pipeline_env)
    assert event["detail"]["counts"] == {"customers": 2}
    assert file_statuses(pipeline_env) == ["loaded"]


def test_a_broken_row_equation_stops_validated_and_everything_after_it(pipeline_env, database_url, monkeypatch):
    upload_two_customers(pipeline_env)
    real_write = validate_module.write_partition

    def losing_writer(s3, bucket, table, partition, schema, batches, workdir, **kwargs):  # loses its input
        return real_write(s3, bucket, table, partition, schema, iter(()), workdir, **kwargs)

    monkeypatch.setattr(validate_module, "write_partition", losing_writer)
    partition_loaded_events(pipeline_env)

    result = run(pipeline_env, RAW, VALIDATED, WAREHOUSE)

    assert not result.success
    equation = evaluations(result)[("validated/customers", "row_equation")]
    assert not equation.passed and equation.metadata["rows_staged"].value == 0
    (message,) = failure_messages(result)
    assert "validated/customers 2026-11-20 must not reach the warehouse" in message
    assert "row_equation: 0 customers rows are staged but 2 rows were valid" in message
    assert WAREHOUSE not in {m.asset_key for m in result.get_asset_materialization_events()}
    assert query(database_url, "SELECT count(*) FROM warehouse.customers") == [(0,)]
    assert partition_loaded_events(pipeline_env) == []

    # a later warehouse-only run (a retry, automation) is stopped by the warehouse's own row equation
    again = run(pipeline_env, WAREHOUSE)
    assert not again.success
    assert not evaluations(again)[("warehouse/customers", "row_equation")].passed
    assert query(database_url, "SELECT count(*) FROM warehouse.customers") == [(0,)]
    assert query(database_url, "SELECT DISTINCT status FROM ops.load_audit") == [("validated",)]
    assert partition_loaded_events(pipeline_env) == []
