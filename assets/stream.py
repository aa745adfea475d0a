"""``stream/*``: what the hot path (ingest → Kinesis → stream processor Lambda) produces, observed by
Dagster rather than computed by it, and reconciled against the batch path.

* ``stream/realtime_metrics`` — the day's real-time counters in DynamoDB; ``stream/archive`` — the
  processor's archive objects in the raw bucket (``web/events/dt=…``, ``market/ticks/dt=…``).
  External assets: ``stream_observation_sensor`` records an observation per day (counts, files).
* ``realtime_matches_batch`` — for a day, the real-time count of each event type equals what the
  batch path loaded from the archive, counted per ``event_id``: a batch the processor archived twice
  (a redelivery) and a client's re-send (kept once in the warehouse, the copy quarantined as
  ``duplicate:key``) both count once, exactly as the real-time counters do.
* ``close_stream_day`` — daily at 00:30 UTC: load yesterday's web events and ticks completely (the
  hourly schedule loads the current day only), then run the check.
"""


import datetime as dt

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetKey,
    AssetObservation,
    AssetSelection,
    AssetSpec,
    Config,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    define_asset_job,
    schedule,
    sensor,
)
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.contracts.realtime import day_items, event_counts
from pipeline_defs.contracts.stream_records import ARCHIVE_KEY_SQL, ARCHIVE_NAME, STREAM_DATASETS, WEB_EVENT_TYPES
from pipeline_defs.jobs import dataset_selection
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings
from resources.aws import DynamoDBResource
from resources.postgres import PostgresResource

REALTIME = AssetKey(["stream", "realtime_metrics"])
ARCHIVE = AssetKey(["stream", "archive"])
WAREHOUSE_WEB_EVENTS = AssetKey(["warehouse", "web_events"])

stream_assets = [
    AssetSpec(REALTIME, group_name="stream", kinds={"dynamodb", "lambda"}, partitions_def=daily_partitions,
              description="Real-time counters per day and event type (DynamoDB pipeline-realtime, "
                          "written exactly once per Kinesis record by the stream processor Lambda)."),
    AssetSpec(ARCHIVE, group_name="stream", kinds={"s3", "lambda"}, partitions_def=daily_partitions,
              description="The stream processor's archive: web/events/dt=…/ and market/ticks/dt=…/ "
                          "<shard>-<first>-<last>.jsonl.gz in the raw bucket; loaded by the batch path."),
]


def realtime_counts(ddb, table: str, day: str) -> dict[str, int]:
    return event_counts(day_items(ddb, table, day))


def archive_inventory(s3, bucket: str, day: str) -> dict[str, dict[str, int]]:
    """Per dataset: archive files, rejected-record files and bytes for ``day``."""
    out = {}
    for dataset, (prefix, _, _) in STREAM_DATASETS.items():
        stats = {"files": 0, "rejected_files": 0, "bytes": 0}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}dt={day}/"):
            for obj in page.get("Contents", []):
                m = ARCHIVE_NAME.fullmatch(obj["Key"])
                if m:
                    stats["rejected_files" if m["rejected"] else "files"] += 1
                    stats["bytes"] += obj["Size"]
        out[dataset] = stats
    return out


@sensor(minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING,
        description="Observes stream/realtime_metrics and stream/archive for today and yesterday (UTC)")
def stream_observation_sensor(context: SensorEvaluationContext, dynamodb: DynamoDBResource,
                              s3: S3Resource) -> SensorResult:
    names = get_settings().names
    today = dt.datetime.now(dt.timezone.utc).date()
    events = []
    for day in (today - dt.timedelta(days=1), today):
        key = day.isoformat()
        counts = realtime_counts(dynamodb.get_client(), names.realtime_table, key)
        inventory = archive_inventory(s3.get_client(), names.raw_bucket, key)
        events.append(AssetObservation(asset_key=REALTIME, partition=key, metadata={
            "events": sum(counts.get(t, 0) for t in WEB_EVENT_TYPES), "market_ticks": counts.get("market_tick", 0),
            "event_counts": MetadataValue.json(counts)}))
        events.append(AssetObservation(asset_key=ARCHIVE, partition=key, metadata={
            "files": sum(s["files"] for s in inventory.values()),
            "rejected_record_files": sum(s["rejected_files"] for s in inventory.values()),
            "bytes": sum(s["bytes"] for s in inventory.values()), "per_dataset": MetadataValue.json(inventory)}))
    return SensorResult(asset_events=events)


# Events of a day that the batch path loaded from the archive: warehouse rows plus their
# duplicate:key losers (an event also uploaded in a batch file), each counted once per event_id.
BATCH_COUNTS_SQL = """
WITH archived AS (
    SELECT event_type, event_id
    FROM warehouse.web_events
    WHERE _partition = %(day)s AND _source_key ~ %(pattern)s
  UNION ALL
    SELECT r ->> 'event_type', r ->> 'event_id'
    FROM ops.quarantine q CROSS JOIN LATERAL (SELECT q.record::jsonb AS r) rec
    WHERE q.dataset = 'web_events' AND q.partition_date = %(day)s AND q.reason = 'duplicate:key'
      AND q.source_key ~ %(pattern)s
)
SELECT event_type, count(DISTINCT event_id) FROM archived GROUP BY event_type
"""


class ReconcileConfig(Config):
    day: str = Field(default="", description="YYYY-MM-DD; default: the run's partition, else yesterday (UTC)")


def check_day(context: AssetCheckExecutionContext, config: ReconcileConfig) -> str:
    """The day to reconcile: explicit config, the partition of the run (close_stream_day), or yesterday."""
    day = config.day or context.run.tags.get("dagster/partition")
    if not day:
        day = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    return dt.date.fromisoformat(day).isoformat()


# Not a partitioned check (still a preview feature in Dagster 1.13): it reconciles the day of the
# partitioned run it is part of, or the configured one.
@asset_check(asset=REALTIME, additional_deps=[WAREHOUSE_WEB_EVENTS],
             description="Per event type, a day's real-time count equals the Kinesis records the batch "
                         "path loaded from the stream archive")
def realtime_matches_batch(context: AssetCheckExecutionContext, config: ReconcileConfig,
                           postgres: PostgresResource, dynamodb: DynamoDBResource) -> AssetCheckResult:
    day = check_day(context, config)
    realtime = realtime_counts(dynamodb.get_client(), get_settings().names.realtime_table, day)
    with postgres.connection() as conn:
        rows = conn.execute(BATCH_COUNTS_SQL,
                            {"day": dt.date.fromisoformat(day), "pattern": ARCHIVE_KEY_SQL}).fetchall()
    batch = {kind: n for kind, n in rows}
    table = ["| event type | real-time | batch | difference |", "|---|---:|---:|---:|"]
    differences = {}
    for kind in WEB_EVENT_TYPES:
        rt, bt = realtime.get(kind, 0), batch.get(kind, 0)
        table.append(f"| {kind} | {rt:,} | {bt:,} | {rt - bt:+,} |")
        if rt != bt:
            differences[kind] = rt - bt
    return AssetCheckResult(
        passed=not differences,
        metadata={"day": day, "realtime_total": sum(realtime.get(k, 0) for k in WEB_EVENT_TYPES),
                  "batch_total": sum(batch.values()), "per_type": MetadataValue.md("\n".join(table)),
                  "differences": MetadataValue.json(differences)},
        description=("real-time and batch agree" if not differences else
                     "real-time counted records the batch path has not loaded (or the reverse): "
                     "load the day again (close_stream_day) and look at the archive's rejected files"),
    )


close_stream_day_job = define_asset_job(
    name="close_stream_day",
    selection=(dataset_selection(CONTRACTS["web_events"]) | dataset_selection(CONTRACTS["market_ticks"])
               | AssetSelection.checks(realtime_matches_batch)),
    description="Load a finished day's stream archive completely, then reconcile it with the real-time counters",
)


@schedule(job=close_stream_day_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description="daily 00:30 UTC: load yesterday's stream archive and reconcile it with real time")
def close_stream_day_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    return RunRequest(run_key=f"close-stream-day-{day}", partition_key=day)
