"""Stream processor CPU throughput on 100-record Kinesis batches, and DynamoDB write calls per batch.

The real handler (Powertools batch processor, logger, EMF metrics) runs on one core with its AWS
calls counted but not performed (a counting client answers like an empty, healthy AWS), so the
figure is the processor's own CPU cost. Reference in the same process: validating every record with
the contract (what a processor without the ingest envelope's fast path would do), and the write
calls of a naive processor (one UpdateItem per event).

    .venv/bin/python -m bench.stream_processor [--batches 300]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter

from pipeline_defs.contracts import CONTRACTS, validate_record
from pipeline_defs.contracts.stream_records import to_payload
from pipeline_defs.local.lambda_runtime import LocalContext, load_function, sibling
from pipeline_defs.local.poller import Rec, kinesis_event

TYPES = ("page_view", "page_view", "page_view", "click", "click", "purchase", "user_signup", "error")


class CountingClient:
    """Stands in for boto3's DynamoDB and S3 clients: counts each call, stores nothing."""

    def __init__(self):
        self.calls: Counter = Counter()

    def put_object(self, **_):
        self.calls["s3.PutObject"] += 1
        return {}

    def batch_write_item(self, **_):
        self.calls["dynamodb.BatchWriteItem"] += 1
        return {"UnprocessedItems": {}}

    def transact_write_items(self, **_):
        self.calls["dynamodb.TransactWriteItems"] += 1
        return {}

    def query(self, **_):
        self.calls["dynamodb.Query"] += 1
        return {"Items": []}

    def batch_get_item(self, **_):
        self.calls["dynamodb.BatchGetItem"] += 1
        return {"Responses": {}}


PROPS = {
    "page_view": lambda rng: {"pageUrl": f"/p/{rng.randrange(50)}", "loadTime": rng.randrange(80, 4000)},
    "click": lambda rng: {"pageUrl": f"/p/{rng.randrange(50)}", "elementId": f"btn-{rng.randrange(20)}",
                          "elementType": "button"},
    "purchase": lambda rng: {"amount": round(rng.uniform(5, 200), 2), "currency": rng.choice(("EUR", "USD")),
                             "itemsCount": rng.randrange(1, 5), "paymentMethod": "card"},
    "user_signup": lambda rng: {"campaignSource": rng.choice(("ads", "newsletter")), "signupMethod": "email"},
    "error": lambda rng: {"errorType": rng.choice(("Timeout", "TypeError")), "errorMessage": "something failed"},
}


def web_record(i: int, users: int, rng: random.Random) -> tuple[str, bytes]:
    """A realistic client event (camelCase, its type's properties), as ingest puts it on the stream."""
    kind = rng.choice(TYPES)
    record = {"eventType": kind, "userId": f"user_{rng.randrange(users)}", "sessionId": f"s{i // 7}",
              "timestamp": f"2026-11-20T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
              "deviceType": rng.choice(("mobile", "desktop", "tablet")), **PROPS[kind](rng)}
    row, reason = validate_record(CONTRACTS["web_events"], record)
    assert reason is None, reason
    meta = {"received_at": "2026-11-20T10:00:00.000000Z", "source_ip": "203.0.113.7", "request_id": "r"}
    payload = json.dumps(to_payload("web_events", row, meta), separators=(",", ":")).encode()
    return row["user_id"], payload


def tick_record(i: int, symbols: int, rng: random.Random) -> tuple[str, bytes]:
    row, _ = validate_record(CONTRACTS["market_ticks"], {"symbol": f"SYM{rng.randrange(symbols)}",
                                                         "price": rng.uniform(10, 500), "volume": rng.randrange(1000),
                                                         "ts": 1795168800 + i})
    payload = to_payload("market_ticks", row, {"request_id": "r"})
    return row["symbol"], json.dumps(payload, separators=(",", ":")).encode()


def batches(n: int, make, spread: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out, seq = [], 1000
    for _ in range(n):
        records = []
        for _ in range(100):
            key, data = make(seq, spread, rng)
            records.append(Rec(str(seq), key, data, 1795168800.0))
            seq += 1
        out.append(kinesis_event(records, "shardId-000000000000", "arn:aws:kinesis:us-east-1:1:stream/s", "us-east-1"))
    return out


def run_processor(events: list[dict]) -> tuple[float, Counter]:
    function = load_function("stream_processor")
    committer = sibling(function, "stream_commit").Committer
    client = CountingClient()
    function.module.processor.make_committer = lambda: committer(client, client, "rt", "market", "seen", "raw")
    context = LocalContext("stream_processor")
    with quiet_stdout():
        function.invoke(events[0], context)  # warm (cold start, imports)
    client.calls.clear()
    with quiet_stdout():  # the JSON logs and EMF lines are produced (CPU counted), then dropped
        start = time.process_time()
        for event in events:
            function.module.handler(event, context)
        cpu = time.process_time() - start
    return cpu, client.calls


@contextlib.contextmanager
def quiet_stdout():
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def run_contract_only(events: list[dict]) -> float:
    contract = CONTRACTS["web_events"]
    start = time.process_time()
    for event in events:
        for r in event["Records"]:
            validate_record(contract, json.loads(base64.b64decode(r["kinesis"]["data"])))
    return time.process_time() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (the machine is shared)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    n = args.batches
    scenarios = {
        "web, 100 distinct users per batch": batches(n, web_record, 100_000),
        "web, ~20 users per batch (sessions)": batches(n, web_record, 20),
        "market ticks, 10 symbols": batches(n, tick_record, 10),
    }
    results = {}
    print(f"stream processor, {n} batches x 100 records per scenario (best of {args.repeat}), one core, "
          "AWS calls counted not performed")
    print(f"{'scenario':40} {'events/s':>10} {'µs/event':>9} {'DynamoDB writes/batch':>22} {'reads/batch':>12} "
          f"{'S3 puts/batch':>14}")
    for name, events in scenarios.items():
        cpu, calls = min((run_processor(events) for _ in range(args.repeat)), key=lambda r: r[0])
        writes = (calls["dynamodb.TransactWriteItems"] + calls["dynamodb.BatchWriteItem"]) / n
        rate = n * 100 / cpu
        reads = (calls["dynamodb.Query"] + calls["dynamodb.BatchGetItem"]) / n
        results[name] = {"events_per_s": round(rate), "ddb_write_calls_per_batch": writes,
                         "ddb_read_calls_per_batch": reads, "ddb_calls_per_batch": writes + reads,
                         "s3_puts_per_batch": calls["s3.PutObject"] / n}
        puts = calls["s3.PutObject"] / n
        print(f"{name:40} {rate:10,.0f} {1e6 / rate:9.1f} {writes:22.2f} {reads:12.2f} {puts:14.2f}")
    web = scenarios["web, 100 distinct users per batch"]
    contract_rate = n * 100 / min(run_contract_only(web) for _ in range(args.repeat))
    ratio = results["web, 100 distinct users per batch"]["events_per_s"] / contract_rate
    results["reference"] = {"contract_validation_only_events_per_s": round(contract_rate),
                            "processor_vs_contract_validation": round(ratio, 2),
                            "naive_ddb_writes_per_batch": 100}
    print(f"reference: validating each record with the contract alone: {contract_rate:,.0f} events/s "
          f"(the whole processor is {ratio:.2f}x that); a per-event UpdateItem processor: 100 writes/batch")
    web100, sessions, ticks = (results[k] for k in scenarios)
    print(json.dumps({  # last line: the summary `python -m bench` collects
        "events_per_s_web_100_users": web100["events_per_s"], "events_per_s_web_sessions": sessions["events_per_s"],
        "events_per_s_market_ticks": ticks["events_per_s"],
        "ddb_write_calls_per_100_event_batch": web100["ddb_write_calls_per_batch"],
        "ddb_read_calls_per_batch": web100["ddb_read_calls_per_batch"],
        "ddb_calls_per_100_event_batch": web100["ddb_calls_per_batch"],
        "ddb_write_calls_per_100_tick_batch": ticks["ddb_write_calls_per_batch"],
        "contract_validation_only_events_per_s": round(contract_rate), "ratio_vs_contract_validation": round(ratio, 2)}))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
