"""Stream processor Lambda (Kinesis event source mapping, ReportBatchItemFailures).

Each record is parsed by Powertools' batch processor; then the batch's effect is committed once per
business key (``event_id``; ticks ``(symbol, ts)``) — archive to
``s3://$PIPELINE_RAW_BUCKET/{web/events,market/ticks}/dt=…/``, the real-time counters with the
ledger of counted records, then the seen marks and market state (see ``stream_commit``). A record whose handling raised
(a bug, never bad data) is reported as a batch item failure; only the records before the first such
failure are committed, since Lambda retries from the lowest reported sequence number. A failed
write raises, so the whole batch is retried (and bisected) by Lambda.

A replay from the on-failure queue (``pipeline dlq redrive``, which adds ``{"redrive": {"message_id"}}``
for the logs) is an ordinary delivery, and so is a client re-sending events: what was counted is not
counted again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from botocore.config import Config as BotoConfig
from stream_commit import Committer, Report
from stream_parse import Parsed, parse

SERVICE = "stream_processor"
NAMESPACE = "Pipeline"  # infra sets POWERTOOLS_METRICS_NAMESPACE to the same value
MAX_LOGGED_REJECTS = 10

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


@dataclass(frozen=True)
class FunctionConfig:
    """The ``PIPELINE_*`` names this function is deployed with (infra ``env_for``).

    The Lambda bundle carries only ``pipeline_defs/contracts`` and this folder, not
    ``pipeline_defs.settings``; so this reads exactly the variables settings.RESOURCE_ENV names for
    them, with the same defaults (tests/functions check the parity), and nothing else.
    """

    realtime_table: str
    market_table: str
    seen_table: str
    raw_bucket: str

    @classmethod
    def from_env(cls) -> "FunctionConfig":
        env = os.environ
        return cls(realtime_table=env.get("PIPELINE_REALTIME_TABLE") or "pipeline-realtime",
                   market_table=env.get("PIPELINE_MARKET_TABLE") or "pipeline-market-state",
                   seen_table=env.get("PIPELINE_SEEN_TABLE") or "pipeline-realtime-seen",
                   raw_bucket=env.get("PIPELINE_RAW_BUCKET") or "pipeline-raw")


@lru_cache(maxsize=4)
def _clients(endpoint: str | None, region: str | None) -> tuple:
    config = BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=2, read_timeout=10)
    return boto3.client("dynamodb", config=config), boto3.client("s3", config=config)


def committer() -> Committer:
    ddb, s3 = _clients(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))
    config = FunctionConfig.from_env()
    return Committer(ddb, s3, config.realtime_table, config.market_table, config.seen_table, config.raw_bucket)


class ExactlyOnceKinesisProcessor(BatchProcessor):
    """Powertools' Kinesis processor that commits the parsed records once, when the batch is done."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams)
        self.shard, self.redrive_id, self.parsed, self.report = "", None, [], Report()
        self.make_committer = committer

    def _prepare(self) -> None:
        super()._prepare()
        self.parsed, self.report = [], Report()

    def success_handler(self, record, result: Parsed):
        self.parsed.append(result)
        return super().success_handler(record, result)

    def _clean(self) -> None:
        failed = [int(m.kinesis.sequence_number) for m in self.fail_messages]
        first_failed = min(failed) if failed else None
        ready = [p for p in self.parsed if first_failed is None or p.seq_int < first_failed]
        self.report = self.make_committer().commit(self.shard, ready)  # raises → retry
        super()._clean()


processor = ExactlyOnceKinesisProcessor()


def record_handler(record: KinesisStreamRecord) -> Parsed:
    k = record.raw_event["kinesis"]  # the plain dict: the data class's properties cost ~1 µs a record
    return parse(k["data"], k["sequenceNumber"], k["partitionKey"], processor.shard, k["approximateArrivalTimestamp"])


def _emit(report: Report, records: int) -> None:
    for kind, n in report.by_kind.items():
        metrics.add_metric(name=f"{kind}_events", unit=MetricUnit.Count, value=n)
    metrics.add_metric(name="records_in_batch", unit=MetricUnit.Count, value=records)
    metrics.add_metric(name="records_rejected", unit=MetricUnit.Count, value=report.rejected)
    metrics.add_metric(name="duplicates_skipped", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="realtime_rejected", unit=MetricUnit.Count, value=sum(report.realtime_rejected.values()))
    metrics.add_metric(name="dynamodb_write_calls", unit=MetricUnit.Count, value=report.ddb_write_calls)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    records = event.get("Records") or []
    metrics.add_metric(name="batches", unit=MetricUnit.Count, value=1)
    processor.shard = records[0]["eventID"].split(":", 1)[0] if records else ""
    processor.redrive_id = (event.get("redrive") or {}).get("message_id")
    # no context: the record handler does not take it, and passing it costs an inspect.signature per batch
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor)
    report = processor.report
    rejects = [p for p in processor.parsed if not p.valid][:MAX_LOGGED_REJECTS]
    for p in rejects:
        logger.warning("record rejected; archived for the batch path's quarantine",
                       extra={"seq": p.seq, "reason": p.kind, "partition_key": p.partition_key})
    for reason, n in report.realtime_rejected.items():
        logger.error("records not counted in real time (archived, so the batch path loads them)",
                     extra={"reason": reason, "records": n, "shard": processor.shard})
    logger.info("batch committed", extra={
        "shard": processor.shard, "records": len(records), "counted": report.counted,
        "duplicates": report.duplicates, "rejected": report.rejected,
        "realtime_rejected": dict(report.realtime_rejected), "archived": report.archived,
        "failures": len(response.get("batchItemFailures", [])), "redrive": processor.redrive_id,
        "dynamodb_write_calls": report.ddb_write_calls})
    _emit(report, len(records))
    return response
