"""The hot path as a user runs it locally: the gateway and the poller as real background processes
(the stack's parts), curl-style HTTP, and events visible in /metrics/realtime seconds later — once
each, however often a client sends them, and equal to what the batch path loads from the archive."""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

import boto3
import psycopg
import pytest
import requests

from pipeline_defs.local.gateway import Gateway, make_server
from pipeline_defs.local.routes import Route
from pipeline_defs.local.stack import LocalStack
from pipeline_defs.settings import LocalPorts, load_settings
from tests.conftest import free_port
from tests.assets.test_stream import close_day
from tests.functions.conftest import DAY, web_event


@pytest.fixture
def stack(provisioned, monkeypatch):
    monkeypatch.setenv("PIPELINE_STREAM_BATCH_WINDOW_SECONDS", "0.2")
    monkeypatch.setenv("PIPELINE_STREAM_POLL_SECONDS", "0.1")
    moto_port = int(provisioned.aws_endpoint_url.rsplit(":", 1)[1])
    state = Path(tempfile.mkdtemp(prefix="pipeline-hotpath-"))
    ports = LocalPorts(moto=moto_port, gateway=free_port(), dagster=free_port(), postgres=free_port())
    settings = load_settings().with_overrides(local_dir=state, ports=ports)
    stack = LocalStack(settings)
    yield stack
    stack.down(only=["gateway", "poller"], say=lambda _: None)


def test_post_then_read_realtime_through_the_background_parts(stack):
    started = stack._start_hot_path(say=lambda _: None)
    assert started == ["gateway", "poller"]
    rows = {name: (state, endpoint) for name, state, endpoint in stack.status()}
    assert rows["gateway"] == ("up", stack.gateway_url) and rows["poller"][0] == "up"

    url = stack.gateway_url
    answer = requests.post(f"{url}/events", json={"eventType": "page_view", "userId": "user_1234",
                                                  "timestamp": f"{DAY}T10:00:00Z", "pageUrl": "/home",
                                                  "loadTime": 1200}, timeout=10)
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    batch = requests.post(f"{url}/events", json=[web_event(i, "purchase") for i in range(20)], timeout=10)
    assert batch.status_code == 200 and batch.json()["accepted"] == 20
    tick = requests.post(f"{url}/ingest", json={"symbol": "AAPL", "price": 190.1, "ts": f"{DAY}T10:00:01Z"}, timeout=10)
    assert tick.status_code == 200

    deadline, body = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/metrics/realtime", params={"date": DAY}, timeout=10).json()
        if body["total_events"] == 21 and body["market"]["ticks"] == 1:
            break
        time.sleep(0.2)
    assert body["event_counts"]["page_view"] == 1 and body["event_counts"]["purchase"] == 20
    assert body["page_views"]["load_time_ms"]["p50"] == pytest.approx(1200, rel=0.06)
    assert body["market"]["symbols"]["AAPL"]["latest"]["price"] == 190.1

    assert requests.post(f"{url}/events", data="{oops", timeout=10).status_code == 400
    stopped = stack.down(only=["gateway", "poller"], say=lambda _: None)
    assert stopped == ["gateway", "poller"]
    assert {name: state for name, state, _ in stack.status()}["gateway"] == "down"


def test_gateway_answers_like_api_gateway_for_unknown_paths_methods_and_missing_functions(tmp_path):
    (tmp_path / "broken").mkdir()
    gateway = Gateway(routes=(Route("GET", "/things/{id}", "absent"), Route("GET", "/files/{key+}", "echo")),
                      functions_dir=tmp_path)
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "handler.py").write_text(
        "import json\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'headers': {'X-Fn': context.function_name},\n"
        "            'body': json.dumps({'params': event['pathParameters'], 'query': event['queryStringParameters'],\n"
        "                                'ip': event['requestContext']['identity']['sourceIp']})}\n")
    server = make_server(gateway, "127.0.0.1", 0)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        echo = requests.get(f"{base}/files/a/b%20c.csv?x=1", timeout=5)
        assert echo.status_code == 200 and echo.headers["X-Fn"] == "echo"
        assert echo.json() == {"params": {"key": "a/b c.csv"}, "query": {"x": "1"}, "ip": "127.0.0.1"}
        assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
        assert requests.post(f"{base}/files/x", timeout=5).status_code == 405
        missing = requests.get(f"{base}/things/1", timeout=5)
        assert missing.status_code == 502 and "absent" in missing.json()["message"]
        assert requests.get(f"{base}/_local/health", timeout=5).json()["gateway"] == "ok"
    finally:
        server.shutdown()
        server.server_close()


def archived_records(settings) -> int:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=settings.names.raw_bucket).get("Contents", [])
    return sum(len(gzip.decompress(s3.get_object(Bucket=settings.names.raw_bucket, Key=o["Key"])["Body"].read())
                   .splitlines()) for o in listing)


def test_events_and_ticks_posted_twice_count_once_and_equal_the_batch_totals(stack, pipeline_env, database_url):
    stack._start_hot_path(say=lambda _: None)
    url = stack.gateway_url
    kinds = ("page_view", "purchase", "user_signup", "click", "error")
    events = [web_event(i, kinds[i % 5]) for i in range(40)]
    events += [{k: v for k, v in web_event(100 + i, "click").items() if k != "eventId"} for i in range(3)]
    ticks = [{"symbol": ("AAPL", "SAP")[i % 2], "price": 100.5 + i, "ts": f"{DAY}T09:00:0{i}Z"} for i in range(5)]
    for _ in range(2):  # the client retries everything: new Kinesis records, the same events
        assert requests.post(f"{url}/events", json=events, timeout=10).json()["accepted"] == 43
        assert requests.post(f"{url}/ingest", json=ticks, timeout=10).json()["accepted"] == 5

    deadline = time.monotonic() + 90
    while archived_records(pipeline_env) < 2 * 48 and time.monotonic() < deadline:  # every record processed
        time.sleep(0.3)
    assert archived_records(pipeline_env) == 2 * 48
    body = requests.get(f"{url}/metrics/realtime", params={"date": DAY}, timeout=10).json()
    assert body["event_counts"] == {"page_view": 8, "purchase": 8, "user_signup": 8, "click": 11, "error": 8}
    assert body["total_events"] == 43 and body["market"]["ticks"] == 5
    assert body["market"]["symbols"]["SAP"]["ticks"] == 2

    evaluation = close_day(pipeline_env)  # load_stream_archive's assets for the day, then the check
    assert evaluation.passed, evaluation.metadata
    assert evaluation.metadata["realtime_total"].value == 43 == evaluation.metadata["batch_total"].value
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.web_events").fetchone() == (43,)
        assert conn.execute("SELECT count(*) FROM warehouse.market_ticks").fetchone() == (5,)
