"""Upload sensors with `build_sensor_context`, a real Dagster instance and moto (S3, SQS, DynamoDB, SNS)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.resources import build_resources
from pipeline_defs.state import LOADED, FileState, put_states
from sensors.s3_upload import s3_upload_sensor
from sensors.sqs_upload import sqs_upload_sensor

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def tick(sensor, settings, instance, cursor=None) -> SensorResult:
    resources = {k: v for k, v in build_resources(settings).items() if k in ("s3", "sqs", "dynamodb", "sns")}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = sensor(context)
    if not isinstance(result, SensorResult):  # a bare SkipReason
        result = SensorResult(skip_reason=result)
    return result


def upload(settings, key: str, body: bytes = b'[{"customer_id": "C1"}]') -> str:
    response = boto3.client("s3").put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)
    return response["ETag"].strip('"')


def queue_depth(settings, name: str) -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                    "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attrs["Attributes"].values())


def test_new_file_one_request_then_deleted_next_tick(provisioned, instance):
    upload(provisioned, "crm/customers/dt=2026-11-20/a.json")
    first = tick(sqs_upload_sensor, provisioned, instance)
    assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("load_customers", "2026-11-20")]
    assert first.run_requests[0].tags["pipeline/load"] == "customers:2026-11-20"  # one load at a time per partition
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 1  # not deleted until recorded
    second = tick(sqs_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert second.run_requests == []
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 0


def test_ten_files_of_one_day_make_one_run(provisioned, instance):
    for n in range(10):
        upload(provisioned, f"erp/orders/dt=2026-11-20/part-{n}.jsonl")
    upload(provisioned, "web/web_events/dt=2026-11-19/e.json")
    result = tick(sqs_upload_sensor, provisioned, instance)
    requests = sorted((r.job_name, r.partition_key, r.tags["pipeline/objects"]) for r in result.run_requests)
    assert requests == [("load_orders", "2026-11-20", "10"), ("load_web_events", "2026-11-19", "1")]


def test_loaded_file_is_skipped_and_reupload_runs_again(provisioned, instance):
    key = "crm/customers/dt=2026-11-20/a.json"
    etag = upload(provisioned, key)
    first = tick(sqs_upload_sensor, provisioned, instance)
    assert len(first.run_requests) == 1
    put_states(boto3.client("dynamodb"), provisioned.names.state_table, [
        FileState(key=key, etag=etag, dataset="customers", partition="2026-11-20", status=LOADED)])
    # the same notification again (S3 delivers at least once): nothing to run
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=provisioned.names.uploads_queue)["QueueUrl"]
    body = {"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-11-20T10:00:00Z",
                         "s3": {"object": {"key": key, "eTag": etag, "size": 10}}}]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    again = tick(sqs_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert again.run_requests == []
    # re-uploaded with new content: a new run with a different run key
    upload(provisioned, key, b'[{"customer_id": "C2"}]')
    third = tick(sqs_upload_sensor, provisioned, instance, cursor=again.cursor)
    assert len(third.run_requests) == 1
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_malformed_message_reaches_dlq_after_three_receives(provisioned, instance):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=provisioned.names.uploads_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="this is not json")
    cursor = None
    for _ in range(4):
        result = tick(sqs_upload_sensor, provisioned, instance, cursor=cursor)
        assert result.run_requests == []
        cursor = result.cursor
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 0
    assert queue_depth(provisioned, provisioned.names.uploads_dlq) == 1


def test_unroutable_upload_is_quarantined_and_alerted(provisioned, instance):
    upload(provisioned, "mystery/thing.json")
    result = tick(sqs_upload_sensor, provisioned, instance)
    assert result.run_requests == []
    copied = boto3.client("s3").list_objects_v2(Bucket=provisioned.names.quarantine_bucket, Prefix="unroutable/")
    assert [o["Key"] for o in copied["Contents"]] == ["unroutable/mystery/thing.json"]
    sqs = boto3.client("sqs")
    inbox = sqs.get_queue_url(QueueName=inbox_queue_name(provisioned.names.alerts_topic))["QueueUrl"]
    alert = json.loads(sqs.receive_message(QueueUrl=inbox)["Messages"][0]["Body"])
    assert "unroutable" in alert["Subject"] and "mystery/thing.json" in alert["Message"]


def test_url_encoded_keys_are_decoded(provisioned, instance):
    upload(provisioned, "crm-data/customer data (1).json")
    result = tick(sqs_upload_sensor, provisioned, instance)
    assert [r.partition_key for r in result.run_requests] == [TODAY.isoformat()]


def test_s3_sensor_lists_only_new_and_changed(provisioned, instance):
    key = f"catalog/products/dt={TODAY.isoformat()}/p.csv"
    upload(provisioned, key, b"sku,name\nS1,a\n")
    first = tick(s3_upload_sensor, provisioned, instance)
    assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("load_products", TODAY.isoformat())]
    second = tick(s3_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert second.run_requests == []
    upload(provisioned, key, b"sku,name\nS1,b\n")  # overwritten: new etag
    third = tick(s3_upload_sensor, provisioned, instance, cursor=second.cursor)
    assert len(third.run_requests) == 1 and third.run_requests[0].run_key != first.run_requests[0].run_key


def test_s3_sensor_ignores_old_dt_folders(provisioned, instance):
    old = (TODAY - timedelta(days=30)).isoformat()
    upload(provisioned, f"catalog/products/dt={old}/p.csv")
    assert tick(s3_upload_sensor, provisioned, instance).run_requests == []


def test_dlq_list_and_redrive(provisioned):
    from pipeline_defs import dlq

    sqs = boto3.client("sqs")
    dead = sqs.get_queue_url(QueueName=provisioned.names.uploads_dlq)["QueueUrl"]
    sqs.send_message(QueueUrl=dead, MessageBody="not json")
    sqs.send_message(QueueUrl=dead, MessageBody=json.dumps({"Records": [{"s3": {"object": {"key": "a/b.json"}}}]}))
    letters = dlq.peek(sqs, provisioned.names.uploads_dlq)
    assert sorted(letter.summary for letter in letters) == ["S3 notification: a/b.json", "not JSON: 'not json'"]
    assert queue_depth(provisioned, provisioned.names.uploads_dlq) == 2  # peeking consumed nothing
    assert dlq.redrive(sqs, provisioned.names.uploads_dlq, provisioned.names.uploads_queue) == 2
    assert queue_depth(provisioned, provisioned.names.uploads_dlq) == 0
    assert queue_depth(provisioned, provisioned.names.uploads_queue) == 2


def test_s3_sensor_sees_identical_bytes_uploaded_again(provisioned, instance):
    """A re-upload (after a failed load, or a re-seed) is a new upload even when the etag is the same."""
    import time

    key = f"catalog/products/dt={TODAY.isoformat()}/same.csv"
    upload(provisioned, key, b"sku,name\nS1,a\n")
    first = tick(s3_upload_sensor, provisioned, instance)
    time.sleep(1.1)  # S3's LastModified has one-second resolution
    upload(provisioned, key, b"sku,name\nS1,a\n")
    again = tick(s3_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert len(again.run_requests) == 1 and again.run_requests[0].run_key != first.run_requests[0].run_key
