"""The hot path seen from Dagster: the processor's archive loads through the batch path, the
reconciliation check compares it with the real-time counters, and the sensor observes both.

Real handlers (via the local gateway and a Lambda-shaped Kinesis event), moto, PostgreSQL, and the
``close_stream_day`` job executed in process."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import psycopg
import pytest
from dagster import AssetKey, Definitions, build_sensor_context, instance_for_test

from assets.raw import raw_assets
from assets.stream import (close_stream_day_job, realtime_matches_batch, stream_assets,
                           stream_observation_sensor)
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from pipeline_defs.local.gateway import Gateway
from pipeline_defs.local.lambda_runtime import LocalContext, load_function
from pipeline_defs.local.poller import Rec, kinesis_event
from pipeline_defs.resources import build_resources

DAY = "2026-11-20"
TYPES = ("page_view", "purchase", "user_signup", "click", "error")


@pytest.fixture(scope="module")
def hot_path():
    return Gateway(), load_function("stream_processor")


def post(gateway: Gateway, path: str, body) -> dict:
    status, _, data = gateway.handle("POST", path, [], json.dumps(body).encode(), "198.51.100.1")
    assert status in (200, 207), data
    return json.loads(data)


def stream(settings) -> tuple[str, list[Rec]]:
    kinesis = boto3.client("kinesis")
    [shard] = kinesis.describe_stream(StreamName=settings.names.events_stream)["StreamDescription"]["Shards"]
    iterator = kinesis.get_shard_iterator(StreamName=settings.names.events_stream, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
    return shard["ShardId"], [Rec(r["SequenceNumber"], r["PartitionKey"], r["Data"],
                                  r["ApproximateArrivalTimestamp"].timestamp()) for r in page["Records"]]


def deliver(processor, shard: str, records: list[Rec]) -> None:
    event = kinesis_event(records, shard, "arn:aws:kinesis:us-east-1:123456789012:stream/pipeline-events", "us-east-1")
    assert processor.invoke(event, LocalContext("stream_processor")) == {"batchItemFailures": []}


def event(i: int, kind: str) -> dict:
    return {"eventId": f"e{i}", "eventType": kind, "userId": f"user_{i % 7}", "timestamp": f"{DAY}T0{i % 10}:15:00Z",
            "deviceType": "mobile", "amount": 5, "currency": "EUR"}


def close_day(settings, day: str = DAY):
    defs = Definitions(assets=[*raw_assets, *validated_assets, *warehouse_assets, *stream_assets],
                       asset_checks=[realtime_matches_batch], jobs=[close_stream_day_job],
                       resources=build_resources(settings))
    result = defs.resolve_job_def("close_stream_day").execute_in_process(partition_key=day, raise_on_error=True)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "realtime_matches_batch"]
    return evaluation


def query(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_archive_loads_through_the_batch_path_and_reconciles_with_real_time(pipeline_env, database_url, hot_path):
    gateway, processor = hot_path
    events = [event(i, TYPES[i % 5]) for i in range(30)]
    post(gateway, "/events", events)
    post(gateway, "/events", events[3])  # a client re-sends one event: a second Kinesis record, counted once
    post(gateway, "/ingest", [{"symbol": "SAP", "price": 120.5, "ts": f"{DAY}T09:00:00Z"}])
    boto3.client("kinesis").put_record(StreamName=pipeline_env.names.events_stream, PartitionKey="x",
                                       Data=json.dumps({"eventType": "click", "timestamp": f"{DAY}T09:00:00Z"}))
    shard, records = stream(pipeline_env)
    deliver(processor, shard, records[:20])
    deliver(processor, shard, records[10:])  # a redelivery: records 10..19 archived twice, counted once

    evaluation = close_day(pipeline_env)

    assert evaluation.passed, evaluation.metadata
    assert evaluation.metadata["realtime_total"].value == 30 == evaluation.metadata["batch_total"].value
    loaded = query(database_url, "SELECT count(*), count(DISTINCT event_id) FROM warehouse.web_events")
    assert loaded == [(30, 30)]
    extra = query(database_url, "SELECT extra FROM warehouse.web_events WHERE event_id = 'e0'")[0][0]
    assert extra["_ingest"]["source_ip"] == "198.51.100.1" and extra["_stream"]["shard"] == shard
    reasons = dict(query(database_url, "SELECT reason, count(*) FROM ops.quarantine WHERE dataset = 'web_events' "
                                       "GROUP BY reason"))
    assert reasons == {"duplicate:key": 11}  # 10 archived twice by the redelivery + 1 re-sent by the client
    ticks = query(database_url, "SELECT symbol, price FROM warehouse.market_ticks")
    assert ticks == [("SAP", 120.5)]

    # the record without a user was archived beside the rejects of the day it arrived, and the batch
    # path quarantines it there with the contract's reason: nothing is lost
    arrived = dt.datetime.fromtimestamp(records[-1].arrival, dt.timezone.utc).date().isoformat()
    assert close_day(pipeline_env, arrived).passed
    assert query(database_url, "SELECT reason, source_key FROM ops.quarantine WHERE partition_date = %s",
                 dt.date.fromisoformat(arrived)) == [
        ("missing:user_id", f"web/events/dt={arrived}/{shard}-{records[10].seq}-{records[-1].seq}.rejected.jsonl.gz")]


def test_reconciliation_fails_while_real_time_has_records_the_batch_has_not_loaded(pipeline_env, hot_path):
    gateway, processor = hot_path
    post(gateway, "/events", [event(i, "click") for i in range(5)])
    shard, records = stream(pipeline_env)
    deliver(processor, shard, records)
    assert close_day(pipeline_env).passed

    post(gateway, "/events", [event(i, "purchase") for i in range(100, 103)])
    shard, records = stream(pipeline_env)
    deliver(processor, shard, records[5:])
    boto3.client("s3").delete_object(Bucket=pipeline_env.names.raw_bucket,  # the new archive goes missing
                                     Key=f"web/events/dt={DAY}/{shard}-{records[5].seq}-{records[-1].seq}.jsonl.gz")
    evaluation = close_day(pipeline_env)
    assert not evaluation.passed
    assert evaluation.metadata["differences"].value == {"purchase": 3}


def test_the_sensor_observes_real_time_counters_and_the_archive(pipeline_env, hot_path, monkeypatch):
    gateway, processor = hot_path
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    post(gateway, "/events", [{**event(i, "page_view"), "timestamp": f"{today}T00:00:0{i}Z"} for i in range(4)])
    shard, records = stream(pipeline_env)
    deliver(processor, shard, records)

    resources = build_resources(pipeline_env)
    with instance_for_test() as instance:
        context = build_sensor_context(instance=instance, resources={"dynamodb": resources["dynamodb"],
                                                                     "s3": resources["s3"]})
        result = stream_observation_sensor(context)
    observed = {(e.asset_key, e.partition): e.metadata for e in result.asset_events}
    realtime = observed[(AssetKey(["stream", "realtime_metrics"]), today)]
    archive = observed[(AssetKey(["stream", "archive"]), today)]
    assert realtime["events"].value == 4 and realtime["event_counts"].value == {"page_view": 4}
    assert archive["files"].value == 1 and archive["bytes"].value > 0
