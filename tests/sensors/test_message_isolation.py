"""Hostile or impossible messages never sink a tick: each is released (then dead-lettered) or
quarantined with its reason, alone, while the valid upload of the same tick runs."""

from __future__ import annotations

import json

import boto3

from pipeline_defs import dlq
from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.state import get_states
from sensors.sqs_upload import sqs_upload_sensor
from tests.sensors.test_upload_sensors import instance, queue_depth, tick, upload  # noqa: F401 (fixture)


def notification(key: str, size="10", when="2026-11-20T10:00:00.000Z") -> str:
    return ('{"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "%s", '
            '"s3": {"object": {"key": "%s", "eTag": "e1", "size": %s}}}]}' % (when, key, size))


HOSTILE = {
    "deep": "[" * 5000 + "]" * 5000,  # RecursionError in json.loads
    "huge_size": notification("crm/customers/dt=2026-11-20/x.json", size="1e400"),  # OverflowError in int()
    "key_not_text": notification("crm/customers/a.json").replace('"crm/customers/a.json"', "5"),  # TypeError
    "no_records": json.dumps({"hello": "world"}),
}


def send(settings, body: str) -> None:
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=settings.names.uploads_queue)["QueueUrl"], MessageBody=body)


def test_bad_messages_go_to_the_dlq_alone_and_the_valid_upload_runs(provisioned, instance):
    for body in HOSTILE.values():
        send(provisioned, body)
    upload(provisioned, "crm/customers/dt=2026-11-20/good.json")
    first = tick(sqs_upload_sensor, provisioned, instance)
    assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("load_customers", "2026-11-20")]
    assert len(json.loads(first.cursor)["delete"]) == 1  # only the valid message is consumed
    cursor = first.cursor
    for _ in range(3):  # each bad message is received 3 times, then the redrive policy dead-letters it
        result = tick(sqs_upload_sensor, provisioned, instance, cursor=cursor)
        assert result.run_requests == []
        cursor = result.cursor
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 0
    assert queue_depth(provisioned, provisioned.names.uploads_dlq) == len(HOSTILE)
    summaries = sorted(letter.summary for letter in dlq.peek(boto3.client("sqs"), provisioned.names.uploads_dlq))
    assert len(summaries) == len(HOSTILE)  # `pipeline dlq list` reads every one, the 5000-deep one included
    assert any(s.startswith("unreadable (RecursionError)") for s in summaries)


def test_dt_outside_the_partitions_is_quarantined_with_a_reason(provisioned, instance):
    old, future = "crm/customers/dt=2019-01-01/old.json", "crm/customers/dt=2999-01-01/future.json"
    for key in (old, future, "crm/customers/dt=2026-11-20/good.json"):
        upload(provisioned, key)
    result = tick(sqs_upload_sensor, provisioned, instance)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-20"]
    copied = boto3.client("s3").list_objects_v2(Bucket=provisioned.names.quarantine_bucket, Prefix="invalid-partition/")
    assert sorted(o["Key"] for o in copied["Contents"]) == sorted([f"invalid-partition/{future}", f"invalid-partition/{old}"])
    states = get_states(boto3.client("dynamodb"), provisioned.names.state_table, [old, future])
    assert {(s.status, s.reason, s.dataset) for s in states.values()} == {("quarantined", "invalid:partition", "customers")}
    sqs = boto3.client("sqs")
    inbox = sqs.get_queue_url(QueueName=inbox_queue_name(provisioned.names.alerts_topic))["QueueUrl"]
    alert = json.loads(sqs.receive_message(QueueUrl=inbox)["Messages"][0]["Body"])
    assert "invalid:partition" in alert["Subject"] and old in alert["Message"]
    assert len(json.loads(result.cursor)["delete"]) == 3  # handled: nothing is redelivered


def test_an_unexpected_error_in_planning_releases_only_its_message(provisioned, instance, monkeypatch):
    import sensors.sqs_upload as module

    real = module.add_object

    def flaky(plan, obj, states, window):
        if "boom" in obj.key:
            raise KeyError("something nobody foresaw")
        real(plan, obj, states, window)

    monkeypatch.setattr(module, "add_object", flaky)
    upload(provisioned, "crm/customers/dt=2026-11-20/boom.json")
    upload(provisioned, "crm/customers/dt=2026-11-21/fine.json")
    result = tick(sqs_upload_sensor, provisioned, instance)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-21"]
    assert len(json.loads(result.cursor)["delete"]) == 1
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 2  # boom.json's message is back, alone
