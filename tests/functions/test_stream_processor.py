"""The stream processor counts each business key once (``event_id``; ticks ``(symbol, ts)``): whole,
partial, bisected and interleaved redeliveries, a client re-sending the same events, and a crash
after each write of a batch never count a record twice or lose it; metrics items stay bounded.

Real handlers, real moto (DynamoDB, S3, Kinesis); crashes are injected with botocore's
``after-call`` hook, i.e. after the write really happened."""

from __future__ import annotations

import gzip
import json
import zlib

import boto3
import pytest

from tests.functions.conftest import DAY, call, deliver, put_raw, realtime, stream_records, web_event

TYPES = ("page_view", "purchase", "user_signup", "click", "error")
WRITES = ("after-call.s3.PutObject", "after-call.dynamodb.BatchWriteItem", "after-call.dynamodb.TransactWriteItems")


class Crash(Exception):
    """The Lambda dies right after a write landed (timeout, OOM, ...)."""


@pytest.fixture
def writes(processor, aws_env):
    """Counts the processor's writes; ``crash_after = n`` raises right after the n-th (1-based)."""
    ddb, s3 = processor.module._clients(aws_env, "us-east-1")

    class Writes:
        count = 0
        crash_after = None

        def __call__(self, **kwargs):
            self.count += 1
            if self.count == self.crash_after:
                raise Crash(f"crash after write {self.count}")

    hook = Writes()
    for event in WRITES:
        (s3 if ".s3." in event else ddb).meta.events.register(event, hook, unique_id=f"test-{event}")
    yield hook
    for event in WRITES:
        (s3 if ".s3." in event else ddb).meta.events.unregister(event, unique_id=f"test-{event}")


def post(gateway, path: str, records: list) -> None:
    for start in range(0, len(records), 500):
        answer = call(gateway, "POST", path, records[start:start + 500])
        assert answer.status == 200, answer.body


def the_batch(settings, gateway, users: int = 40, per_type: int = 20, second_day: bool = False, ticks: int = 0):
    """Events of every type (and optionally ticks) on the stream; returns (shard, records)."""
    events = [web_event(i, kind, user=f"user_{(t * per_type + i) % users}")
              for t, kind in enumerate(TYPES) for i in range(per_type)]
    if second_day:
        events += [web_event(1000 + i, "click", user=f"user_{i}", day="2026-11-21") for i in range(10)]
    post(gateway, "/events", events)
    if ticks:
        post(gateway, "/ingest", [{"symbol": ("AAPL", "MSFT", "SAP")[i % 3], "price": 100 + i, "volume": 10,
                                   "ts": f"{DAY}T12:{i // 60:02d}:{i % 60:02d}Z"} for i in range(ticks)])
    [(shard, records)] = stream_records(settings).items()
    return shard, records


def counts(gateway, day: str = DAY) -> dict:
    return realtime(gateway, day)["event_counts"]


def archive(settings) -> dict[str, list[dict]]:
    s3 = boto3.client("s3")
    out = {}
    for obj in s3.list_objects_v2(Bucket=settings.names.raw_bucket).get("Contents", []):
        body = gzip.decompress(s3.get_object(Bucket=settings.names.raw_bucket, Key=obj["Key"])["Body"].read())
        out[obj["Key"]] = [json.loads(line) if line.startswith(b"{") else line.decode() for line in body.splitlines()]
    return out


EXPECTED = {kind: 20 for kind in TYPES}


def test_one_batch_gives_every_metric_and_its_archive(provisioned, gateway, processor):
    shard, records = the_batch(provisioned, gateway, ticks=6)
    response = deliver(processor, shard, records)

    assert response == {"batchItemFailures": []}
    day = realtime(gateway)
    assert day["event_counts"] == EXPECTED and day["total_events"] == 100
    assert day["page_views"]["load_time_ms"]["samples"] == 20
    assert 100 <= day["page_views"]["load_time_ms"]["p50"] <= 120 and day["page_views"]["load_time_ms"]["p95"] <= 125
    assert day["purchases"]["count_by_currency"] == {"EUR": 10, "USD": 10}
    assert day["purchases"]["amount_by_currency"] == {"EUR": 10 * 12.0, "USD": 10 * 12.0}
    assert day["signups"]["by_campaign"] == {"ads": 10, "newsletter": 10}
    assert day["clicks"]["by_element"] == {"btn-0": 7, "btn-1": 7, "btn-2": 6}
    assert day["errors"]["by_type"] == {"Timeout": 10, "TypeError": 10}
    assert sum(day["by_device"].values()) == 100 and set(day["by_device"]) == {"desktop", "mobile"}
    assert day["market"]["ticks"] == 6
    assert day["market"]["symbols"]["SAP"]["latest"]["price"] == 105 and day["market"]["symbols"]["SAP"]["ticks"] == 2

    first, last = records[0].seq, records[-1].seq
    files = archive(provisioned)
    assert set(files) == {f"web/events/dt={DAY}/{shard}-{first}-{last}.jsonl.gz",
                          f"market/ticks/dt={DAY}/{shard}-{first}-{last}.jsonl.gz"}
    lines = files[f"web/events/dt={DAY}/{shard}-{first}-{last}.jsonl.gz"]
    assert len(lines) == 100 and {line["_stream"]["shard"] for line in lines} == {shard}
    assert sorted(int(line["_stream"]["seq"]) for line in lines) == sorted(int(r.seq) for r in records[:100])


def test_whole_redelivery_counts_nothing_twice(provisioned, gateway, processor):
    shard, records = the_batch(provisioned, gateway)
    deliver(processor, shard, records)
    before = archive(provisioned)
    deliver(processor, shard, records)  # Lambda's retry after a timeout that hid our success
    assert counts(gateway) == EXPECTED
    assert archive(provisioned) == before  # the same key, the same bytes


def test_partial_and_bisected_redeliveries_count_each_record_once(provisioned, gateway, processor):
    shard, records = the_batch(provisioned, gateway)
    deliver(processor, shard, records[:60])
    deliver(processor, shard, records[30:])  # overlaps 30 records already counted
    deliver(processor, shard, records[:50])  # a bisected retry of an earlier batch
    deliver(processor, shard, records[50:])
    assert counts(gateway) == EXPECTED


def test_interleaved_lanes_of_one_shard_lose_nothing(provisioned, gateway, processor):
    """ParallelizationFactor 2: two concurrent batches share a shard, interleaved by partition key.
    A per-shard high-water mark would drop lane B's records below lane A's last one; per-key does not."""
    shard, records = the_batch(provisioned, gateway)
    lane = {r.key: zlib.crc32(r.key.encode()) % 2 for r in records}
    lane_a = [r for r in records if lane[r.key] == 0]
    lane_b = [r for r in records if lane[r.key] == 1]
    assert lane_a and lane_b and int(lane_b[0].seq) < int(lane_a[-1].seq)
    deliver(processor, shard, lane_a)
    deliver(processor, shard, lane_b)
    deliver(processor, shard, lane_a[len(lane_a) // 2:])  # and a retry of lane A's second half
    assert counts(gateway) == EXPECTED


def test_a_100_event_batch_takes_at_most_ten_dynamodb_calls_however_many_users_it_has(
        provisioned, gateway, processor, writes):
    shard, records = the_batch(provisioned, gateway, users=150, per_type=20)
    deliver(processor, shard, records)
    report = processor.module.processor.report
    assert report.counted == 100 and counts(gateway) == EXPECTED
    # 1 transaction + 4 BatchWriteItem of seen marks; ledger Query + seen BatchGet + metrics BatchGet
    assert (report.ddb_write_calls, report.ddb_read_calls) == (5, 3)


# One batch with two business days and ticks: 3 archive objects, the counters' transaction, then
# 160 seen marks + 30 market-state items (8 BatchWriteItem): 12 writes, and a crash after each.
CRASH_POINTS = range(1, 13)


@pytest.mark.parametrize("crash_after", CRASH_POINTS)
def test_a_crash_after_any_write_then_a_retry_counts_every_record_exactly_once(
        provisioned, gateway, processor, writes, crash_after):
    shard, records = the_batch(provisioned, gateway, users=150, per_type=30, second_day=True, ticks=30)
    writes.crash_after = crash_after
    with pytest.raises(Crash):
        deliver(processor, shard, records)
    writes.crash_after = None
    deliver(processor, shard, records)  # Lambda retries the whole batch
    deliver(processor, shard, records[: len(records) // 2])  # and, for good measure, a bisected half

    assert counts(gateway) == {kind: 30 for kind in TYPES}
    assert counts(gateway, "2026-11-21")["click"] == 10
    day = realtime(gateway)
    assert day["market"]["ticks"] == 30 and sum(s["ticks"] for s in day["market"]["symbols"].values()) == 30
    ticks = boto3.client("dynamodb").scan(TableName=provisioned.names.market_table)["Items"]
    assert len(ticks) == 30
    files = archive(provisioned)
    whole = f"{shard}-{records[0].seq}-{records[-1].seq}.jsonl.gz"
    assert {f"web/events/dt={DAY}/{whole}", f"web/events/dt=2026-11-21/{whole}",
            f"market/ticks/dt={DAY}/{whole}"} <= set(files)
    # the bisected half was archived again under its own key: same records, which the batch path dedupes
    archived = {line["_stream"]["seq"] for lines in files.values() for line in lines}
    assert archived == {r.seq for r in records}


def test_the_batch_used_for_crashes_has_twelve_writes(provisioned, gateway, processor, writes):
    shard, records = the_batch(provisioned, gateway, users=150, per_type=30, second_day=True, ticks=30)
    deliver(processor, shard, records)
    assert writes.count == max(CRASH_POINTS)


def test_a_failing_record_is_reported_and_only_what_precedes_it_is_counted(
        provisioned, gateway, processor, monkeypatch):
    shard, records = the_batch(provisioned, gateway)
    poison = records[37].seq
    real_parse = processor.module.parse

    def parse(data, seq, *args):
        if seq == poison:
            raise RuntimeError("a bug on this record")
        return real_parse(data, seq, *args)

    monkeypatch.setattr(processor.module, "parse", parse)
    response = deliver(processor, shard, records)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert realtime(gateway)["total_events"] == 37

    monkeypatch.setattr(processor.module, "parse", real_parse)  # fixed; Lambda retries from the failure
    assert deliver(processor, shard, records[37:]) == {"batchItemFailures": []}
    assert counts(gateway) == EXPECTED


def test_bad_records_on_the_stream_are_archived_with_the_rejects_and_not_counted(provisioned, gateway, processor):
    put_raw(provisioned, b"\xff\xfe not json", "junk")
    put_raw(provisioned, json.dumps({"eventType": "page_view", "timestamp": "2026-11-20T10:00:00Z"}).encode(), "x")
    put_raw(provisioned, json.dumps({"eventType": "click", "userId": "u9", "timestamp": "2026-11-20T11:00:00Z",
                                     "elementId": "buy"}).encode(), "u9")  # another producer, valid
    [(shard, records)] = stream_records(provisioned).items()
    assert deliver(processor, shard, records) == {"batchItemFailures": []}

    day = realtime(gateway)
    assert day["event_counts"]["click"] == 1 and day["total_events"] == 1 and day["clicks"]["by_element"] == {"buy": 1}
    files = archive(provisioned)
    rejected = [k for k in files if k.endswith(".rejected.jsonl.gz")]
    assert len(rejected) == 1 and len(files[rejected[0]]) == 2  # kept for the batch path's quarantine
    [valid] = [k for k in files if not k.endswith(".rejected.jsonl.gz")]
    assert files[valid][0]["element_id"] == "buy" and files[valid][0]["_stream"]["seq"] == records[2].seq


def test_more_counter_items_than_one_transaction_holds_are_split_and_stay_exact(provisioned, gateway, processor,
                                                                               writes):
    """120 business days x 1 type = 120 counter items: two transactions, each with its ledger item."""
    events = [web_event(i, "click", day=f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}") for i in range(120)]
    post(gateway, "/events", events)
    [(shard, records)] = stream_records(provisioned).items()
    writes.crash_after = 120 + 1  # 120 archive objects, then the first transaction
    with pytest.raises(Crash):
        deliver(processor, shard, records)
    writes.crash_after = None
    deliver(processor, shard, records)
    assert sum(realtime(gateway, f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}")["event_counts"]["click"]
               for i in range(120)) == 120


def test_a_client_resending_events_and_ticks_counts_them_once(provisioned, gateway, processor):
    """A re-POST is new Kinesis records (new sequence numbers) with the same business keys."""
    events = [web_event(i, kind) for kind in TYPES for i in range(20)]
    anonymous = [{k: v for k, v in web_event(500 + i, "click").items() if k != "eventId"} for i in range(5)]
    ticks = [{"symbol": "SAP", "price": 100 + i, "volume": 10, "ts": f"{DAY}T12:00:{i:02d}Z"} for i in range(6)]
    post(gateway, "/events", events + anonymous)
    post(gateway, "/ingest", ticks)
    [(shard, first)] = stream_records(provisioned).items()
    deliver(processor, shard, first)
    post(gateway, "/events", events + anonymous)  # the client did not see our answer and sends it all again
    post(gateway, "/ingest", ticks)
    post(gateway, "/events", events[:3] * 2)  # and the same events twice in one request
    [(_, everything)] = stream_records(provisioned).items()
    again = everything[len(first):]
    assert len(again) == len(first) + 6
    deliver(processor, shard, again[:40])
    deliver(processor, shard, again)  # a retry of the first part with the rest

    day = realtime(gateway)
    assert day["event_counts"] == {**EXPECTED, "click": 25} and day["market"]["ticks"] == 6
    assert day["clicks"]["by_element"] == {"btn-0": 9, "btn-1": 8, "btn-2": 8}
    assert processor.module.processor.report.duplicates == len(again)
    assert len(boto3.client("dynamodb").scan(TableName=provisioned.names.seen_table)["Items"]) == 105


def test_a_crash_after_counting_then_a_resend_counts_once(provisioned, gateway, processor, writes):
    """The crash lands between the counters' transaction and the seen marks; Lambda retries the batch
    (which writes the marks) before the client's re-send, which comes later in the same lane."""
    events = [web_event(i, "purchase") for i in range(30)]
    post(gateway, "/events", events)
    [(shard, first)] = stream_records(provisioned).items()
    writes.crash_after = 2  # the archive, then the transaction
    with pytest.raises(Crash):
        deliver(processor, shard, first)
    writes.crash_after = None
    deliver(processor, shard, first)
    post(gateway, "/events", events)
    [(_, everything)] = stream_records(provisioned).items()
    deliver(processor, shard, everything[30:])
    assert counts(gateway)["purchase"] == 30


def test_a_redrive_and_a_resend_after_the_batch_was_counted_count_nothing(provisioned, gateway, processor):
    post(gateway, "/events", [web_event(i, "error") for i in range(10)])
    [(shard, first)] = stream_records(provisioned).items()
    deliver(processor, shard, first)
    deliver(processor, shard, first[3:7], redrive={"message_id": "m-1"})  # pipeline dlq redrive
    post(gateway, "/events", [web_event(i, "error") for i in range(10)])
    [(_, everything)] = stream_records(provisioned).items()
    deliver(processor, shard, everything[10:15])
    deliver(processor, shard, everything[12:])  # bisected retry overlapping
    assert counts(gateway)["error"] == 10


def test_items_keep_a_bounded_number_of_dimension_values_and_count_the_rest_as_other(
        provisioned, gateway, processor):
    from pipeline_defs.contracts.realtime import MAX_DIMENSION_VALUES, metrics_key, worst_item_bytes

    clicks = [web_event(i, "click", element_id=f"element-{i:05d}-" + "x" * 80, user=f"u{i % 50}")
              for i in range(450)]
    post(gateway, "/events", clicks + [web_event(i, "page_view") for i in range(10)])
    [(shard, records)] = stream_records(provisioned).items()
    for start in range(0, len(records), 100):
        deliver(processor, shard, records[start:start + 100])

    day = realtime(gateway)
    assert day["event_counts"]["click"] == 450 and day["event_counts"]["page_view"] == 10
    assert len(day["clicks"]["by_element"]) == MAX_DIMENSION_VALUES
    assert day["clicks"]["other"] == {"by_element": 450 - MAX_DIMENSION_VALUES}
    item = boto3.client("dynamodb").get_item(TableName=provisioned.names.realtime_table,
                                             Key={k: {"S": v} for k, v in metrics_key(DAY, "click").items()})["Item"]
    assert sum(1 for name in item if name.startswith("el#")) == MAX_DIMENSION_VALUES
    assert worst_item_bytes() < 400 * 1024


def test_an_item_that_cannot_grow_rejects_its_records_with_a_reason_and_counts_the_rest(
        provisioned, gateway, processor, caplog):
    """An item already near 400 KB (written before items were bounded): its records are not counted,
    with a reason, once per delivery; the batch's other records are counted; nothing raises."""
    from pipeline_defs.contracts.realtime import metrics_key

    ddb = boto3.client("dynamodb")
    legacy = {**{k: {"S": v} for k, v in metrics_key(DAY, "error").items()}, "event_type": {"S": "error"},
              "n": {"N": "3500"}, "err#Timeout": {"N": "3500"}}
    used = sum(len(name) + len(next(iter(value.values()))) for name, value in legacy.items())
    legacy["pad"] = {"S": "p" * (405_000 - used - 3 - 8)}  # 8 bytes below moto's limit (AWS: 400 KB)
    ddb.put_item(TableName=provisioned.names.realtime_table, Item=legacy)
    post(gateway, "/events", [web_event(i, kind) for kind in ("error", "click") for i in range(20)])
    [(shard, records)] = stream_records(provisioned).items()
    outcomes = []
    for _ in range(2):  # and a redelivery: the errors are refused again (one try each), the clicks were counted
        assert deliver(processor, shard, records) == {"batchItemFailures": []}
        report = processor.module.processor.report
        outcomes.append((dict(report.realtime_rejected), report.counted, report.duplicates))
    assert outcomes == [({"too_large:realtime_item": 20}, 20, 0), ({"too_large:realtime_item": 20}, 0, 20)]
    assert counts(gateway)["click"] == 20 and counts(gateway)["error"] == 3500
    assert [(r.levelname, r.__dict__.get("reason"), r.__dict__.get("records")) for r in caplog.records
            if "not counted" in r.getMessage()] == [("ERROR", "too_large:realtime_item", 20)] * 2


def test_reads_and_writes_left_unprocessed_are_retried_then_fail_loudly(processor):
    """What DynamoDB leaves unprocessed (throttling) is sent again with backoff; if it never clears,
    the batch fails (Lambda retries it) instead of counting with marks or dimensions missing."""
    import stream_seen

    left = {"t": {"Keys": [{"pk": {"S": "e#1"}}]}}
    answers = iter([{"Responses": {"t": []}, "UnprocessedKeys": left}, {"Responses": {"t": [{"pk": {"S": "e#1"}}]}}])
    sent, pauses = [], []

    def call(RequestItems):
        sent.append(RequestItems)
        return next(answers)

    pages = list(stream_seen.until_processed(call, {"t": {"Keys": [{"pk": {"S": "e#0"}}, {"pk": {"S": "e#1"}}]}},
                                             pauses.append, "seen keys"))
    assert [p["Responses"]["t"] for p in pages] == [[], [{"pk": {"S": "e#1"}}]]
    assert sent[1] == left and pauses == [0]

    def throttled(RequestItems):
        return {"UnprocessedItems": RequestItems}

    with pytest.raises(RuntimeError, match="seen markers still unprocessed"):
        list(stream_seen.until_processed(throttled, {"t": [{"PutRequest": {}}]}, pauses.append, "seen markers"))
    assert len(pauses) == 1 + stream_seen.ATTEMPTS - 1
