"""What the Dagster pipeline (code server + run tasks) may touch, resource by resource.

The batch path reads raw uploads (never writes them: the stream processor's role writes the
archive, people and the ingest side write uploads), writes the lake, quarantine and reports, keeps processing state
and aggregates in DynamoDB, consumes the upload notifications (and redrives the DLQs), publishes
alerts/reports and PartitionLoaded events, observes the hot path's tables and stream, invalidates
the analytics cache, and runs the migrations with the owner's secret. Nothing else.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from infra import iam as p
from infra.config import InfraConfig
from infra.iam import Arns, allow
from infra.stacks.stream import table_resources

_OBJECT_KEYS = ("Object keys are data-dependent (<source>/<dataset>/dt=.../<file>, Parquet parts, "
                "reports/<date>/...); access is limited to the pipeline's own buckets")


def grant_pipeline_data(role: iam.Role, arns: Arns, names, config: InfraConfig, storage) -> None:
    buckets = {
        names.raw_bucket: p.S3_READ,  # sensors/assets read uploads (quarantine copies them out)
        names.processed_bucket: p.S3_READ + p.S3_WRITE + p.S3_DELETE,  # a re-run replaces a partition
        names.quarantine_bucket: p.S3_READ + p.S3_WRITE,
        names.reports_bucket: p.S3_READ + p.S3_WRITE,
    }
    allow(role, p.S3_LIST, [arns.bucket(bucket) for bucket in buckets] + [arns.bucket(storage.dagster_bucket_name)])
    for bucket, actions in buckets.items():
        allow(role, actions, [arns.objects(bucket)], why_wildcard=_OBJECT_KEYS)
    allow(role, p.S3_READ + p.S3_WRITE, [arns.objects(storage.dagster_bucket_name, "compute-logs/")],
          why_wildcard="Run steps upload their captured logs per run and step under compute-logs/")

    owned = table_resources(arns, names, "state_table") + table_resources(arns, names, "aggregates_table")
    allow(role, p.DDB_READ + p.DDB_WRITE + p.DDB_DELETE, owned)
    allow(role, p.DDB_READ, table_resources(arns, names, "realtime_table")
          + table_resources(arns, names, "market_table"))
    allow(role, p.DDB_READ + p.DDB_DELETE + p.DDB_SCAN, table_resources(arns, names, "cache_table"))

    queues = [names.uploads_queue, names.uploads_dlq, names.stream_failures_queue]
    allow(role, p.SQS_CONSUME, [arns.queue(queue) for queue in queues])
    allow(role, p.SQS_SEND, [arns.queue(names.uploads_queue)])  # `pipeline dlq redrive`
    allow(role, p.KINESIS_READ + p.KINESIS_PUT, [arns.stream(names.events_stream)])

    allow(role, ["sns:Publish"], [arns.topic(names.alerts_topic), arns.topic(names.reports_topic)])
    allow(role, p.KMS_USE, [storage.notifications_key.key_arn])
    allow(role, ["events:PutEvents"], [arns.bus(names.event_bus)])
    allow(role, p.SECRET_READ, [arns.secret(names.db_secret_id), arns.secret(config.readonly_secret_id)])
