"""POST /events, POST /ingest and their answers, through the local gateway into moto's Kinesis."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from pipeline_defs.local.lambda_runtime import sibling
from tests.functions.conftest import DAY, call, stream_records, web_event

TYPES = ("page_view", "purchase", "user_signup", "click", "error")


def on_stream(settings) -> list[tuple[str, dict]]:
    return [(r.key, json.loads(r.data)) for recs in stream_records(settings).values() for r in recs]


@pytest.mark.parametrize("camel", [True, False], ids=["camelCase", "snake_case"])
def test_every_event_type_is_accepted_normalised_and_enriched(provisioned, gateway, camel):
    events = [web_event(i, kind, camel=camel) for i, kind in enumerate(TYPES)]
    answer = call(gateway, "POST", "/events", events)

    assert answer.status == 200, answer.body
    assert answer.body["accepted"] == 5 and answer.body["rejected"] == 0 and answer.body["rejections"] == []
    assert answer.body["event_ids"] == [f"evt-{kind}-{i}" for i, kind in enumerate(TYPES)]
    records = sorted(on_stream(provisioned), key=lambda kv: kv[1]["event_id"])
    by_type = {payload["event_type"]: (key, payload) for key, payload in records}
    assert set(by_type) == set(TYPES)
    key, page_view = by_type["page_view"]
    assert key == page_view["user_id"] == "user_0"  # partition key = user id
    assert page_view["occurred_at"] == f"{DAY}T10:00:00.000000Z" and page_view["load_time_ms"] == 100
    assert page_view["device_type"] == "desktop" and page_view["page_url"] == "/p/0"
    assert "loadTime" not in page_view and "eventType" not in page_view
    assert by_type["purchase"][1]["currency"] == "USD" and by_type["purchase"][1]["amount"] == 11
    assert by_type["user_signup"][1]["campaign_source"] == "ads"
    assert by_type["click"][1]["element_id"] == "btn-0"
    assert by_type["error"][1]["error_type"] == "Timeout"
    meta = page_view["_ingest"]
    assert meta["v"] == 1 and meta["source_ip"] == "203.0.113.7" and meta["request_id"] == answer.body["request_id"]
    assert meta["received_at"].endswith("Z")


def test_a_single_object_with_unknown_fields_keeps_them(provisioned, gateway):
    event = {"eventType": "page_view", "userId": "user_1234", "timestamp": "2026-11-20T09:30:00+02:00",
             "pageUrl": "/home", "loadTime": 1200, "experiment": {"arm": "b"}}
    answer = call(gateway, "POST", "/events", event)
    assert answer.status == 200 and answer.body["accepted"] == 1
    [(key, payload)] = on_stream(provisioned)
    assert key == "user_1234" and payload["occurred_at"] == "2026-11-20T07:30:00.000000Z"
    assert payload["experiment"] == {"arm": "b"}
    assert answer.body["event_ids"] == [payload["event_id"]]  # derived deterministically


def test_bad_records_are_rejected_one_by_one_with_reasons(provisioned, gateway):
    events = [
        web_event(0),
        {**web_event(1), "eventType": "teleport"},  # unknown type
        {k: v for k, v in web_event(2).items() if k != "userId"},  # missing user
        {**web_event(3), "timestamp": "yesterday"},  # bad timestamp
        "not an object",
        {**web_event(5), "userId": "u" * 300},  # too long for a Kinesis partition key
    ]
    answer = call(gateway, "POST", "/events", events)

    assert answer.status == 207
    assert answer.body["accepted"] == 1 and answer.body["rejected"] == 5
    assert [(r["index"], r["reason"]) for r in answer.body["rejections"]] == [
        (1, "invalid:event_type"), (2, "missing:user_id"), (3, "invalid:occurred_at"), (4, "malformed:record"),
        (5, "invalid:user_id")]
    assert "page_view" in answer.body["rejections"][0]["message"]  # the allowed types are named
    assert len(on_stream(provisioned)) == 1


@pytest.mark.parametrize("raw, status, code", [
    (b"{not json", 400, "malformed:json"),
    (b"", 400, "malformed:json"),
    (b"42", 400, "malformed:json"),
    (b"[]", 400, "empty:batch"),
    (json.dumps([{"eventType": "click"}] * 501).encode(), 413, "oversize:batch"),
    (json.dumps({"eventType": "click", "pad": "x" * (5 * 1024 * 1024)}).encode(), 413, "oversize:body"),
    (b'{"eventType": "click", "userId": "caf\xe9"}', 400, "encoding:not_utf8"),
    (b"\xff\xfe" + json.dumps({"eventType": "click"}).encode("utf-16-le"), 400, "encoding:not_utf8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "too_deep:json"),
    (json.dumps([web_event(0), {**web_event(1), "tree": json.loads("[" * 200 + "]" * 200)}]).encode(), 400,
     "too_deep:json"),
], ids=["malformed", "empty", "scalar", "empty-list", "501-records", "6MB", "latin-1", "utf-16", "100000-deep",
        "200-deep-record"])
@pytest.mark.parametrize("path", ["/events", "/ingest"])
def test_unusable_bodies_are_refused_whole(provisioned, gateway, raw, status, code, path):
    answer = call(gateway, "POST", path, raw=raw)
    assert answer.status == status and answer.body["error"] == code, answer.body
    assert answer.body["message"]
    assert on_stream(provisioned) == []


def test_a_5000_digit_number_rejects_its_record_not_the_request(provisioned, gateway):
    """Past Python's 4,300-digit limit: as text for an integer property, and as a JSON literal."""
    events = [web_event(i) for i in range(500)]
    events[7]["pages_viewed"] = "1" * 5000
    body = json.dumps(events).encode()
    literal = json.dumps(events[9])[:-1].encode() + b', "pages_viewed": ' + b"9" * 5000 + b"}"
    body = body.replace(json.dumps(events[9]).encode(), literal)
    answer = call(gateway, "POST", "/events", raw=body)
    assert answer.status == 207, answer.body
    assert answer.body["rejections"] == [
        {"index": i, "reason": "invalid:pages_viewed", "message": "pages_viewed has an invalid value"} for i in (7, 9)]
    assert answer.body["accepted"] == 498 and len(on_stream(provisioned)) == 498
    ticks = [{"symbol": "AAPL", "price": 1, "ts": 1795168800123}, {"symbol": "MSFT", "price": 2, "ts": 1795168800123}]
    raw = json.dumps(ticks).encode().replace(b'"price": 2', b'"price": ' + b"2" * 5000)
    answer = call(gateway, "POST", "/ingest", raw=raw)
    assert answer.status == 207 and answer.body["rejections"][0]["reason"] == "invalid:price"
    assert answer.body["accepted"] == 1


def test_a_record_over_kinesis_record_limit_is_rejected_alone(provisioned, gateway):
    big = {**web_event(1), "pageUrl": "/" + "x" * (1024 * 1024)}
    blob = {**web_event(2), "blob": "x" * (100 * 1024)}  # unknown fields over PIPELINE_MAX_EXTRA_CHARS' default
    answer = call(gateway, "POST", "/events", [web_event(0), big, blob])
    assert answer.status == 207 and [r["reason"] for r in answer.body["rejections"]] == [
        "oversize:record", "too_large:extra"]
    assert answer.body["accepted"] == 1


def test_market_ticks_use_the_symbol_as_partition_key(provisioned, gateway):
    ticks = [{"symbol": "aapl", "price": "189.5", "volume": 100, "ts": 1795168800123, "exchange": "NASDAQ"},
             {"symbol": "MSFT", "price": 0, "ts": "2026-11-20T10:00:00Z"}]
    answer = call(gateway, "POST", "/ingest", ticks)
    assert answer.status == 207
    assert answer.body["accepted"] == 1 and answer.body["rejections"][0]["reason"] == "out_of_range:price"
    [(key, payload)] = on_stream(provisioned)
    assert key == "AAPL" and payload["symbol"] == "AAPL" and payload["price"] == 189.5
    assert payload["ts"] == "2026-11-20T10:00:00.123000Z"


def test_realtime_needs_a_real_date(provisioned, gateway):
    answer = call(gateway, "GET", "/metrics/realtime?date=2026-13-01")
    assert answer.status == 400 and answer.body["error"] == "invalid:date"


def test_only_records_kinesis_refused_are_resent(gateway, provisioned):
    """PutRecords is partial: the failed ones are retried (only them), what keeps failing is reported.
    moto never throttles, so botocore's Stubber plays Kinesis' answers here."""
    put = sibling(gateway.function("ingest"), "ingest_put")
    records = sibling(gateway.function("ingest"), "ingest_records")
    entries = records.prepare("web_events", [web_event(i) for i in range(3)], {"request_id": "r"}).entries
    kinesis = boto3.client("kinesis")
    stub = Stubber(kinesis)
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    throttled = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
    stub.add_response("put_records", {"FailedRecordCount": 2, "Records": [ok, throttled, throttled]})
    stub.add_response("put_records", {"FailedRecordCount": 1, "Records": [ok, throttled]},
                      {"StreamName": "s", "Records": [{"Data": e.data, "PartitionKey": e.partition_key}
                                                      for e in entries[1:]]})
    for _ in range(put.ATTEMPTS - 2):
        stub.add_response("put_records", {"FailedRecordCount": 1, "Records": [throttled]})
    with stub:
        failed = put.put_all(kinesis, "s", entries, sleep=lambda s: None)
    assert failed == {2: "ProvisionedThroughputExceededException"}
    stub.assert_no_pending_responses()


def test_put_chunks_respect_kinesis_limits(gateway):
    put = sibling(gateway.function("ingest"), "ingest_put")
    records = sibling(gateway.function("ingest"), "ingest_records")
    small = [records.Entry(i, b"x" * 100, "k", None) for i in range(1200)]
    assert [len(c) for c in put.chunks(small)] == [500, 500, 200]
    large = [records.Entry(i, b"x" * (900 * 1024), "k", None) for i in range(12)]
    assert [len(c) for c in put.chunks(large)] == [5, 5, 2]  # ≤ 5 MiB per call


@pytest.mark.parametrize("length", ["-5", "12abc", "1e3"])
def test_the_local_gateway_answers_a_bad_content_length_with_400(gateway, length):
    import socket
    import threading

    from pipeline_defs.local.gateway import make_server

    server = make_server(gateway, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address, timeout=10) as sock:
            sock.sendall(f"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
            answer = sock.makefile("rb").read().decode("latin-1")  # the gateway closes the connection
        assert answer.startswith("HTTP/1.1 400") and answer.endswith('{"message": "Invalid Content-Length"}')
    finally:
        server.shutdown()
        server.server_close()
