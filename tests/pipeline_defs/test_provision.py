"""Provisioning creates every resource of DESIGN.md §5 and is idempotent."""

import json

import boto3

from pipeline_defs.local.provision import NONCURRENT_VERSION_DAYS, inbox_queue_name, provision
from pipeline_defs.settings import load_settings


def test_provision_creates_everything_once(aws_env):
    settings = load_settings()
    first = provision(settings, database_secret={"username": "u", "password": "p", "host": "h", "port": 1})
    assert first.created and not first.existing
    second = provision(settings, database_secret={"username": "u", "password": "p", "host": "h", "port": 1})
    assert not second.created, f"second run created {second.created}"
    assert len(second.existing) >= len(first.created) - 1  # the notification wiring is only ever 'created'

    names = settings.names
    s3 = boto3.client("s3")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.reports_bucket,
            names.results_bucket} <= buckets
    assert s3.get_bucket_versioning(Bucket=names.raw_bucket)["Status"] == "Enabled"

    sqs = boto3.client("sqs")
    uploads = sqs.get_queue_url(QueueName=names.uploads_queue)["QueueUrl"]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=uploads, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3 and redrive["deadLetterTargetArn"].endswith(names.uploads_dlq)
    dlq = sqs.get_queue_url(QueueName=names.uploads_dlq)["QueueUrl"]
    retention = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert retention["MessageRetentionPeriod"] == str(14 * 24 * 3600)

    tables = set(boto3.client("dynamodb").list_tables()["TableNames"])
    assert {names.state_table, names.aggregates_table, names.realtime_table, names.market_table,
            names.cache_table} <= tables
    assert boto3.client("kinesis").describe_stream_summary(StreamName=names.events_stream)
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=names.db_secret_id)["SecretString"])
    assert secret["username"] == "u"
    assert any(b["Name"] == names.event_bus for b in boto3.client("events").list_event_buses()["EventBuses"])


def test_upload_notifications_reach_the_queue(aws_env):
    settings = load_settings()
    provision(settings)
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.put_object(Bucket=settings.names.raw_bucket, Key="crm/customers/dt=2026-11-20/a b.json", Body=b"[]")
    url = sqs.get_queue_url(QueueName=settings.names.uploads_queue)["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    records = [r for body in bodies for r in body.get("Records", [])]
    assert [r["s3"]["object"]["key"] for r in records] == ["crm%2Fcustomers%2Fdt%3D2026-11-20%2Fa+b.json"]


def test_sns_topics_deliver_to_local_inbox(aws_env):
    settings = load_settings()
    provision(settings)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(settings.names.alerts_topic))
    sns.publish(TopicArn=topic, Message="hello", Subject="test")
    inbox = sqs.get_queue_url(QueueName=inbox_queue_name(settings.names.alerts_topic))["QueueUrl"]
    message = json.loads(sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert message["Message"] == "hello"


def test_a_replaced_lake_file_stays_recoverable(aws_env):
    """Re-runs replace lake and quarantine files; the buckets keep the replaced version (and expire it)."""
    settings = load_settings()
    provision(settings)
    s3, names = boto3.client("s3"), settings.names
    for bucket in (names.processed_bucket, names.quarantine_bucket):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_VERSION_DAYS
    key = "orders/dt=2026-11-20/part-00000.parquet"
    s3.put_object(Bucket=names.processed_bucket, Key=key, Body=b"first run")
    s3.put_object(Bucket=names.processed_bucket, Key=key, Body=b"re-run")
    versions = s3.list_object_versions(Bucket=names.processed_bucket, Prefix=key)["Versions"]
    old = next(v for v in versions if not v["IsLatest"])
    assert s3.get_object(Bucket=names.processed_bucket, Key=key, VersionId=old["VersionId"])["Body"].read() == b"first run"
