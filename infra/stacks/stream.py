"""Stream: the ingest Lambda (API -> Kinesis) and the processor Lambda (Kinesis -> DynamoDB + S3).

The processor's event source mapping carries the hot path's delivery contract (issue 6): batches
of ``batchSize`` (100) within ``batchWindowSeconds`` (5 s), two batches per shard in flight, bisect
on error, partial batch failure via ReportBatchItemFailures, bounded retries, and failed records
sent to the stream-failures queue (replayed by ``pipeline dlq redrive``).

Resources are addressed by their shared names (``config.names``), so this stack depends on
Storage only for deployment order, never through exports.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import InfraConfig, env_for
from infra.iam import DDB_READ, DDB_WRITE, KINESIS_PUT, S3_READ, S3_WRITE, Arns, allow
from infra.lambdas import PipelineFunction
from pipeline_defs.local.provision import TABLES

# Where the processor archives valid events (issue 6): raw/web/events/dt=... and the market ticks.
ARCHIVE_PREFIXES = ("web/", "market/")


def table_resources(arns: Arns, names, attr: str) -> list[str]:
    """A table and each of its GSIs by name (from provision.TABLES), so no '/index/*' wildcard."""
    name = getattr(names, attr)
    return [arns.table(name), *(arns.index(name, index) for index in TABLES[attr]["gsis"])]


class StreamStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, storage: Stack | None = None, **kwargs):
        super().__init__(scope, id, **kwargs)
        if storage is not None:
            self.add_stack_dependency(storage)
        names = config.names(Aws.ACCOUNT_ID)
        arns = Arns(self)

        self.ingest = PipelineFunction(
            self, "Ingest", config=config, name="ingest",
            description="POST /events and /ingest: validate, enrich, PutRecords; GET /metrics/realtime",
            environment=env_for(names, "events_stream", "realtime_table", "market_table"),
            memory_mb=config.lambda_memory_mb, timeout_s=config.lambda_timeout_seconds)
        allow(self.ingest.role, KINESIS_PUT, [arns.stream(names.events_stream)])
        allow(self.ingest.role, DDB_READ, table_resources(arns, names, "realtime_table")
              + table_resources(arns, names, "market_table"))

        self.processor = PipelineFunction(
            self, "Processor", config=config, name="stream_processor",
            description="Kinesis batches -> real-time metrics, market state and the raw archive",
            environment=env_for(names, "realtime_table", "market_table", "seen_table", "raw_bucket"),
            memory_mb=config.lambda_memory_mb, timeout_s=config.lambda_timeout_seconds)
        tables = [r for attr in ("realtime_table", "market_table", "seen_table") for r in table_resources(arns, names, attr)]
        allow(self.processor.role, DDB_READ + DDB_WRITE, tables)
        allow(self.processor.role, S3_READ + S3_WRITE,
              [arns.objects(names.raw_bucket, prefix) for prefix in ARCHIVE_PREFIXES],
              why_wildcard="The processor writes deterministic archive objects "
                           "(<prefix>dt=.../<shard>-<first>-<last>.jsonl.gz) whose keys are only known "
                           "per batch; access is limited to the archive prefixes of the raw bucket")

        stream = kinesis.Stream.from_stream_arn(self, "EventsStream", arns.stream(names.events_stream))
        failures = sqs.Queue.from_queue_arn(self, "StreamFailures", arns.queue(names.stream_failures_queue))
        self.event_source = sources.KinesisEventSource(
            stream, starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=config.batch_size, max_batching_window=Duration.seconds(config.batch_window_seconds),
            parallelization_factor=config.parallelization_factor, bisect_batch_on_error=config.bisect_on_error,
            report_batch_item_failures=True, retry_attempts=config.retry_attempts,
            max_record_age=Duration.seconds(config.max_record_age_seconds),
            on_failure=sources.SqsDlq(failures))
        self.processor.function.add_event_source(self.event_source)
