"""Fixtures for the hot path: the real handlers loaded as the local gateway/poller load them, talking
to the session's moto server (``provisioned``). Helpers post through the gateway, read the stream
back, and hand batches to the processor exactly as the event source mapping would."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest

from pipeline_defs.local.gateway import Gateway
from pipeline_defs.local.lambda_runtime import LocalContext, load_function
from pipeline_defs.local.poller import Rec, kinesis_event

DAY = "2026-11-20"


@pytest.fixture(scope="session")
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture(scope="session")
def processor():
    return load_function("stream_processor")


@dataclass
class Answer:
    status: int
    body: dict


def call(gateway: Gateway, method: str, path: str, payload=None, raw: bytes | None = None,
         source_ip: str = "203.0.113.7") -> Answer:
    body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
    status, _, data = gateway.handle(method, path, [("Content-Type", "application/json")], body, source_ip)
    return Answer(status, json.loads(data) if data else {})


def realtime(gateway: Gateway, day: str = DAY) -> dict:
    answer = call(gateway, "GET", f"/metrics/realtime?date={day}")
    assert answer.status == 200, answer.body
    return answer.body


def web_event(i: int, kind: str = "page_view", user: str | None = None, day: str = DAY, camel: bool = True,
              **extra) -> dict:
    """A realistic event of each type, in the client's camelCase (default) or snake_case."""
    props = {
        "page_view": {"load_time_ms": 100 + i % 900, "page_url": f"/p/{i % 7}"},
        "purchase": {"amount": 10 + i % 5, "currency": "usd" if i % 2 else "EUR", "payment_method": "card"},
        "user_signup": {"campaign_source": "newsletter" if i % 2 else "ads", "signup_method": "email"},
        "click": {"element_id": f"btn-{i % 3}", "element_type": "button"},
        "error": {"error_type": "TypeError" if i % 2 else "Timeout", "error_message": "boom"},
    }[kind]
    snake = {"event_id": f"evt-{kind}-{i}", "event_type": kind, "user_id": user or f"user_{i}",
             "occurred_at": f"{day}T{10 + i % 10:02d}:00:{i % 60:02d}Z",
             "device_type": "mobile" if i % 3 else "desktop",
             **props, **extra}
    if not camel:
        return snake
    aliases = {"load_time_ms": "loadTime", "occurred_at": "timestamp"}
    return {aliases.get(k) or "".join(p if n == 0 else p.title() for n, p in enumerate(k.split("_"))): v
            for k, v in snake.items()}


def stream_records(settings) -> dict[str, list[Rec]]:
    """Every record on the events stream, per shard, in sequence order."""
    kinesis = boto3.client("kinesis")
    out = {}
    for shard in kinesis.describe_stream(StreamName=settings.names.events_stream)["StreamDescription"]["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=settings.names.events_stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = []
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            recs += [Rec(r["SequenceNumber"], r["PartitionKey"], r["Data"],
                         r["ApproximateArrivalTimestamp"].timestamp()) for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        out[shard["ShardId"]] = recs
    return out


def deliver(processor, shard: str, records: list[Rec], **extra) -> dict:
    """Invoke the processor with a Lambda-shaped Kinesis event (raises like a function error)."""
    event = kinesis_event(records, shard, "arn:aws:kinesis:us-east-1:123456789012:stream/pipeline-events", "us-east-1")
    event.update(extra)
    return processor.invoke(event, LocalContext("stream_processor"))


def put_raw(settings, data: bytes, key: str) -> None:
    boto3.client("kinesis").put_record(StreamName=settings.names.events_stream, Data=data, PartitionKey=key)
