"""The local event source mapping behaves like Lambda's: batch size and window, lanes per partition
key, bisect on error, partial-batch retries, retries then the on-failure queue, and a redrive that
counts the dead-lettered records exactly once. The function is the real stream processor."""

from __future__ import annotations

import json
import zlib

import boto3
import pytest

from pipeline_defs.local.lambda_runtime import LocalContext
from pipeline_defs.local.poller import Poller, redrive
from pipeline_defs.settings import StreamSettings
from tests.functions.conftest import call, realtime, stream_records, web_event


class Function:
    """The processor as the poller sees it, recording each invocation; ``crash_on`` makes the
    function error (a timeout, say) whenever that sequence number is in its batch."""

    def __init__(self, processor):
        self.processor, self.batches, self.crash_on = processor, [], None

    def __call__(self, event):
        seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        self.batches.append([(r["kinesis"]["partitionKey"], int(r["kinesis"]["sequenceNumber"]))
                             for r in event["Records"]])
        if self.crash_on in seqs:
            raise TimeoutError("Task timed out after 30.00 seconds")
        return self.processor.invoke(event, LocalContext("stream_processor"))


def make_poller(settings, function, clock=None, **knobs) -> Poller:
    config = StreamSettings(**{"batch_window_seconds": 0.0, **knobs})
    extra = {"clock": clock} if clock else {}
    return Poller(settings.with_overrides(stream=config), function, boto3.client("kinesis"), boto3.client("sqs"),
                  sleep=lambda s: None, **extra)


def post_events(gateway, n: int, users: int) -> None:
    for start in range(0, n, 500):
        answer = call(gateway, "POST", "/events", [web_event(i, "click", user=f"user_{i % users}")
                                                   for i in range(start, min(n, start + 500))])
        assert answer.status == 200, answer.body


def dead_letters(settings) -> list[dict]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.names.stream_failures_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def clicks(gateway) -> int:
    return realtime(gateway)["event_counts"]["click"]


def test_batches_respect_size_and_lanes_keep_each_keys_order(provisioned, gateway, processor):
    post_events(gateway, 250, users=50)
    function = Function(processor)
    make_poller(provisioned, function, batch_size=100, parallelization_factor=2).drain()

    assert clicks(gateway) == 250
    assert all(len(b) <= 100 for b in function.batches) and sum(len(b) for b in function.batches) == 250
    for batch in function.batches:  # one lane per batch, in sequence order
        assert len({zlib.crc32(k.encode()) % 2 for k, _ in batch}) == 1
        assert [s for _, s in batch] == sorted(s for _, s in batch)
    seen: dict[str, int] = {}
    for batch in function.batches:
        for key, seq in batch:
            assert seq > seen.get(key, -1)
            seen[key] = seq


def test_a_batch_waits_for_the_window_unless_it_is_full(provisioned, gateway, processor):
    post_events(gateway, 10, users=10)
    now = [1_000.0]
    function = Function(processor)
    poller = make_poller(provisioned, function, clock=lambda: now[0], batch_size=100, batch_window_seconds=5,
                         parallelization_factor=1)
    poller.run_once()
    assert function.batches == []
    now[0] += 5
    poller.run_once()
    assert [len(b) for b in function.batches] == [10]


def test_bisect_isolates_a_crashing_record_which_goes_to_the_failure_queue(provisioned, gateway, processor):
    post_events(gateway, 64, users=64)
    [(shard, records)] = stream_records(provisioned).items()
    function = Function(processor)
    function.crash_on = records[21].seq
    poller = make_poller(provisioned, function, batch_size=64, parallelization_factor=1, retry_attempts=2)
    poller.drain()

    culprit = int(records[21].seq)
    failing = [len(b) for b in function.batches if any(seq == culprit for _, seq in b)]
    assert failing == [64, 32, 16, 8, 4, 2, 1, 1, 1]  # halves until alone, then 1 + 2 retries
    assert clicks(gateway) == 63  # every other record counted, once
    [message] = dead_letters(provisioned)
    info = message["KinesisBatchInfo"]
    assert info["shardId"] == shard and info["startSequenceNumber"] == info["endSequenceNumber"] == records[21].seq
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3

    function.crash_on = None  # fixed: `pipeline dlq redrive`
    report = redrive(provisioned, function, boto3.client("kinesis"), boto3.client("sqs"))
    assert report.replayed_records == 1 and report.left == []
    assert clicks(gateway) == 64 and dead_letters(provisioned) == []


def test_partial_failures_retry_from_the_lowest_then_dead_letter_and_redrive_once(
        provisioned, gateway, processor, monkeypatch):
    post_events(gateway, 100, users=10)  # each user has 10 events: later ones are counted meanwhile
    [(shard, records)] = stream_records(provisioned).items()
    poison = records[30].seq
    real_parse = processor.module.parse
    monkeypatch.setattr(processor.module, "parse", lambda data, seq, *a: (_ for _ in ()).throw(RuntimeError("bug"))
                        if seq == poison else real_parse(data, seq, *a))
    function = Function(processor)
    poller = make_poller(provisioned, function, batch_size=50, parallelization_factor=1, retry_attempts=1)
    poller.drain()

    assert [len(b) for b in function.batches] == [50, 20, 50]  # retried from the failure, then moved on
    assert clicks(gateway) == 80  # 30 before the poison + the next batch; 20 dead-lettered
    [message] = dead_letters(provisioned)
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == poison
    assert message["KinesisBatchInfo"]["batchSize"] == 20

    monkeypatch.setattr(processor.module, "parse", real_parse)
    kinesis, sqs = boto3.client("kinesis"), boto3.client("sqs")
    assert redrive(provisioned, function, kinesis, sqs).replayed_records == 20
    assert clicks(gateway) == 100  # counted although later records of the same users advanced the checkpoints
    assert redrive(provisioned, function, kinesis, sqs).replayed_records == 0  # nothing left, nothing twice
    assert clicks(gateway) == 100


def test_redrive_crashing_after_its_write_does_not_count_twice(provisioned, gateway, processor, monkeypatch):
    post_events(gateway, 10, users=10)
    [(shard, records)] = stream_records(provisioned).items()
    function = Function(processor)
    function.crash_on = records[0].seq
    make_poller(provisioned, function, batch_size=10, parallelization_factor=1, retry_attempts=0,
                bisect_on_error=False).drain()
    assert clicks(gateway) == 0 and len(dead_letters(provisioned)) == 1

    function.crash_on = None
    sqs = boto3.client("sqs")
    real_delete = sqs.delete_message
    monkeypatch.setattr(sqs, "delete_message", lambda **kw: (_ for _ in ()).throw(ConnectionError("gone")))
    with pytest.raises(ConnectionError):  # counted, but the message was not deleted
        redrive(provisioned, function, boto3.client("kinesis"), sqs, visibility_timeout=0)
    monkeypatch.setattr(sqs, "delete_message", real_delete)
    assert redrive(provisioned, function, boto3.client("kinesis"), sqs).replayed_messages == 1
    assert clicks(gateway) == 10 and dead_letters(provisioned) == []


def test_an_answer_naming_unknown_records_fails_the_whole_batch(provisioned, gateway, processor):
    post_events(gateway, 5, users=5)
    calls = []

    def liar(event):
        calls.append(len(event["Records"]))
        return {"batchItemFailures": [{"itemIdentifier": "999999"}]}

    make_poller(provisioned, liar, batch_size=10, parallelization_factor=1, retry_attempts=1,
                bisect_on_error=False).drain()
    assert calls == [5, 5]
    [message] = dead_letters(provisioned)
    assert message["KinesisBatchInfo"]["batchSize"] == 5


def test_records_older_than_the_maximum_age_are_dead_lettered_unprocessed(provisioned, gateway, processor):
    post_events(gateway, 3, users=3)
    function = Function(processor)
    import time

    make_poller(provisioned, function, clock=lambda: time.time() + 7200, max_record_age_seconds=3600,
                parallelization_factor=1).drain()
    assert function.batches == []
    [message] = dead_letters(provisioned)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"


def test_pipeline_dlq_lists_and_redrives_the_stream_queue(provisioned, gateway, processor, tmp_path, monkeypatch):
    from pipeline_defs import settings as settings_module
    from pipeline_defs.cli import main

    monkeypatch.setenv("PIPELINE_LOCAL_DIR", str(tmp_path))  # the processor's log goes there
    settings_module.get_settings.cache_clear()

    post_events(gateway, 4, users=4)
    [(shard, records)] = stream_records(provisioned).items()
    function = Function(processor)
    function.crash_on = records[1].seq
    make_poller(provisioned, function, batch_size=10, parallelization_factor=1, retry_attempts=0,
                bisect_on_error=False).drain()
    assert clicks(gateway) == 0

    lines: list[str] = []
    settings = provisioned.with_overrides(local_dir=tmp_path)
    from pipeline_defs.local.poller import stream_dlq

    assert stream_dlq("list", settings, say=lines.append) == 0
    assert lines[0] == "1 message(s) in pipeline-stream-failures"
    assert f"{shard} {records[0].seq}..{records[-1].seq} (4 records)" in lines[1]
    assert main(["dlq", "redrive", "--queue", "stream"]) == 0  # as a user types it
    assert clicks(gateway) == 4 and dead_letters(provisioned) == []
    assert "records_in_batch" in (tmp_path / "logs" / "redrive.log").read_text()  # EMF, not the terminal
    settings_module.get_settings.cache_clear()


def test_4500_distinct_element_ids_keep_items_bounded_and_hold_nothing_up(provisioned, gateway, processor):
    """Each click names its own element: the click item keeps MAX_DIMENSION_VALUES of them and counts
    the rest as "other"; no batch fails, nothing reaches the failure queue, other events are counted."""
    from pipeline_defs.contracts.realtime import MAX_DIMENSION_VALUES, day_items

    for start in range(0, 4500, 500):
        answer = call(gateway, "POST", "/events", [web_event(i, "click", element_id=f"el-{i:05d}-" + "z" * 90)
                                                   for i in range(start, start + 500)])
        assert answer.status == 200, answer.body
    answer = call(gateway, "POST", "/events", [web_event(i, "purchase") for i in range(50)])
    assert answer.status == 200
    function = Function(processor)
    poller = make_poller(provisioned, function, batch_size=100)
    poller.drain()

    assert poller.stats.function_errors == 0 and dead_letters(provisioned) == []
    day = realtime(gateway)
    assert day["event_counts"]["click"] == 4500 and day["event_counts"]["purchase"] == 50
    assert len(day["clicks"]["by_element"]) == MAX_DIMENSION_VALUES
    assert day["clicks"]["other"] == {"by_element": 4500 - MAX_DIMENSION_VALUES}
    assert sum(day["clicks"]["by_element"].values()) + day["clicks"]["other"]["by_element"] == 4500
    [click] = [i for i in day_items(boto3.client("dynamodb"), provisioned.names.realtime_table, "2026-11-20")
               if i["event_type"] == "click"]
    assert sum(1 for name in click if name.startswith("el#")) == MAX_DIMENSION_VALUES
    assert sum(len(name) + 20 for name in click) < 40_000  # bytes, far below DynamoDB's 400 KB
