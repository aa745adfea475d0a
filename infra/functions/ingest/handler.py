"""Ingest Lambda (API Gateway proxy): ``POST /events`` (web events), ``POST /ingest`` (market ticks),
``GET /metrics/realtime``.

POST bodies are one JSON object or a list of up to 500. Each record is validated by the shared
contract, normalised (camelCase → snake_case, typed values), enriched (received_at, source IP,
request id) and put on Kinesis with the user id / symbol as partition key. Answers: 200 when all
were accepted, 207 with ``rejections`` (index, reason, message) when some were not, 400 for a
malformed body (also: not UTF-8, nested too deeply), 413 for an oversize one, 503 when Kinesis
took none of them.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config as BotoConfig
from ingest_put import put_all
from ingest_read import parse_day, realtime_metrics
from ingest_records import BodyError, enrichment, parse_body, prepare

SERVICE = "ingest"
NAMESPACE = "Pipeline"  # infra sets POWERTOOLS_METRICS_NAMESPACE to the same value

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
app = APIGatewayRestResolver()


@dataclass(frozen=True)
class FunctionConfig:
    """The ``PIPELINE_*`` names this function is deployed with (infra ``env_for``).

    The Lambda bundle carries only ``pipeline_defs/contracts`` and this folder, not
    ``pipeline_defs.settings``; so this reads exactly the variables settings.RESOURCE_ENV names for
    them, with the same defaults (tests/functions check the parity), and nothing else.
    """

    events_stream: str
    realtime_table: str
    market_table: str

    @classmethod
    def from_env(cls) -> "FunctionConfig":
        env = os.environ
        return cls(events_stream=env.get("PIPELINE_EVENTS_STREAM") or "pipeline-events",
                   realtime_table=env.get("PIPELINE_REALTIME_TABLE") or "pipeline-realtime",
                   market_table=env.get("PIPELINE_MARKET_TABLE") or "pipeline-market-state")


@lru_cache(maxsize=4)
def _client(service: str, endpoint: str | None, region: str | None):
    # endpoint/region in the key: a warm process reused against another endpoint (tests, local) gets a new client
    return boto3.client(service, config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                                                   connect_timeout=2, read_timeout=5))


def client(service: str):
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _raw_body() -> bytes | str | None:
    """The body as sent: API Gateway base64-encodes what is not text (parse_body checks UTF-8)."""
    event = app.current_event
    if event.is_base64_encoded and event.body:
        try:
            return base64.b64decode(event.body)
        except binascii.Error:
            raise BodyError(400, "malformed:json", "the body is not valid base64 although flagged so") from None
    return event.body


def _accept(dataset: str) -> Response:
    request_id = app.current_event.request_context.request_id or app.lambda_context.aws_request_id
    try:
        records = parse_body(_raw_body())
    except BodyError as err:
        metrics.add_metric(name="bodies_rejected", unit=MetricUnit.Count, value=1)
        logger.info("body rejected", extra={"code": err.code, "reason": err.message})
        return _json(err.status, {"error": err.code, "message": err.message, "request_id": request_id})
    source_ip = app.current_event.request_context.identity.source_ip
    prepared = prepare(dataset, records, enrichment(request_id, source_ip))
    stream = FunctionConfig.from_env().events_stream
    failed = put_all(client("kinesis"), stream, prepared.entries) if prepared.entries else {}
    rejections = prepared.rejections + [
        {"index": i, "reason": f"unavailable:{code}", "message": "Kinesis did not store it; retry this record"}
        for i, code in failed.items()]
    rejections.sort(key=lambda r: r["index"])
    accepted = [e for e in prepared.entries if e.index not in failed]
    metrics.add_metric(name=f"{dataset}_accepted", unit=MetricUnit.Count, value=len(accepted))
    metrics.add_metric(name=f"{dataset}_rejected", unit=MetricUnit.Count, value=len(rejections))
    logger.info("records received", extra={"dataset": dataset, "received": prepared.total,
                                           "accepted": len(accepted), "rejected": len(rejections)})
    body = {"accepted": len(accepted), "rejected": len(rejections), "rejections": rejections, "request_id": request_id}
    if dataset == "web_events":
        body["event_ids"] = [e.event_id for e in accepted]
    if failed and not accepted:
        return _json(503, {**body, "error": "unavailable", "message": "the stream did not accept the records; retry"})
    return _json(207 if rejections else 200, body)


@app.post("/events")
@tracer.capture_method
def post_events() -> Response:
    return _accept("web_events")


@app.post("/ingest")
@tracer.capture_method
def post_ticks() -> Response:
    return _accept("market_ticks")


@app.get("/metrics/realtime")
@tracer.capture_method
def get_realtime() -> Response:
    metrics.add_metric(name="realtime_reads", unit=MetricUnit.Count, value=1)
    try:
        day = parse_day(app.current_event.get_query_string_value("date"))
    except ValueError as exc:
        return _json(400, {"error": "invalid:date", "message": str(exc)})
    config = FunctionConfig.from_env()
    return _json(200, realtime_metrics(client("dynamodb"), config.realtime_table, config.market_table, day))


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return _json(500, {"error": "internal", "message": type(exc).__name__,
                       "request_id": app.lambda_context.aws_request_id})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
