"""Create every AWS resource the platform uses (infra/stacks/storage.py) on the local endpoint, idempotently.

The shapes mirror what infra/ deploys (same names from settings, same key schemas), so code that
passes locally talks to the same layout on AWS. Running it twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from pipeline_defs.aws import client
from pipeline_defs.settings import Settings

UPLOADS_MAX_RECEIVE_COUNT = 3
FOURTEEN_DAYS = 14 * 24 * 3600
QUERY_RESULTS_EXPIRY_DAYS = 7
NONCURRENT_VERSION_DAYS = 30  # lake and quarantine: a re-run's replaced files stay recoverable this long

# DynamoDB key schemas (documented in README "Stores"): name attribute -> (hash, range, ttl, gsis)
PK_SK = (("pk", "S"), ("sk", "S"))
TABLES: dict[str, dict] = {
    # one item per raw object (pk=file#<key>, sk=state) + report history (pk=report, sk=<date>);
    # gsi1 lists files by dataset and partition: gsi1pk=files#<dataset>#<date>, gsi1sk=<key>
    "state_table": {"keys": PK_SK, "gsis": {"gsi1": (("gsi1pk", "S"), ("gsi1sk", "S"))}, "ttl": None},
    # daily aggregates: pk=<aggregate>#<date>, sk=<dimension values>
    "aggregates_table": {"keys": PK_SK, "gsis": {}, "ttl": None},
    # real-time metrics: pk/sk per metric item, gsi by event type, expires after 30 days
    "realtime_table": {"keys": PK_SK, "gsis": {"by_event_type": (("event_type", "S"), ("sk", "S"))}, "ttl": "expires_at"},
    # market state: latest and historical ticks per symbol
    "market_table": {"keys": (("symbol", "S"), ("ts", "S")), "gsis": {}, "ttl": None},
    # the hot path's counted web events, one item per event_id (pk=e#<id>), expiring with its day
    "seen_table": {"keys": (("pk", "S"),), "gsis": {}, "ttl": "expires_at"},
    # analytics query cache
    "cache_table": {"keys": (("pk", "S"),), "gsis": {}, "ttl": "expires_at"},
}


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def note(self, what: str, created: bool) -> None:
        (self.created if created else self.existing).append(what)


def _exists_error(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes


def _buckets(settings: Settings, report: ProvisionReport) -> None:
    s3 = client("s3", settings)
    names = settings.names
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (names.raw_bucket, names.processed_bucket, names.quarantine_bucket,
                   names.reports_bucket, names.results_bucket):
        if bucket not in existing:
            kwargs = {} if settings.aws_region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": settings.aws_region}}
            s3.create_bucket(Bucket=bucket, **kwargs)
        report.note(f"s3://{bucket}", bucket not in existing)
    for bucket in (names.raw_bucket, names.processed_bucket, names.quarantine_bucket):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for bucket in (names.processed_bucket, names.quarantine_bucket):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
            "ID": "expire-replaced-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
        }]})
    s3.put_bucket_lifecycle_configuration(
        Bucket=names.results_bucket,
        LifecycleConfiguration={"Rules": [{
            "ID": "expire-query-results", "Status": "Enabled", "Filter": {"Prefix": ""},
            "Expiration": {"Days": QUERY_RESULTS_EXPIRY_DAYS},
        }]},
    )


def _queue(sqs, name: str, attributes: dict[str, str], report: ProvisionReport) -> tuple[str, str]:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        created = False
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    except ClientError as exc:
        if not _exists_error(exc, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created = True
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    report.note(f"sqs:{name}", created)
    return url, arn


def inbox_queue_name(topic_or_bus: str) -> str:
    """The local SQS queue subscribed to an SNS topic or EventBridge bus, so users can read what was published."""
    return f"{topic_or_bus}-inbox"


def _queues_and_notifications(settings: Settings, report: ProvisionReport) -> None:
    sqs = client("sqs", settings)
    names = settings.names
    retention = {"MessageRetentionPeriod": str(FOURTEEN_DAYS)}
    _, dlq_arn = _queue(sqs, names.uploads_dlq, retention, report)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(UPLOADS_MAX_RECEIVE_COUNT)})
    _, uploads_arn = _queue(sqs, names.uploads_queue, {**retention, "VisibilityTimeout": "60", "RedrivePolicy": redrive}, report)
    _queue(sqs, names.stream_failures_queue, retention, report)
    s3 = client("s3", settings)
    wanted = {"Id": "raw-uploads", "QueueArn": uploads_arn, "Events": ["s3:ObjectCreated:*"]}
    current = s3.get_bucket_notification_configuration(Bucket=names.raw_bucket).get("QueueConfigurations", [])
    if not any(c.get("QueueArn") == uploads_arn for c in current):
        # S3 then sends an s3:TestEvent to the queue; the upload sensor skips it.
        s3.put_bucket_notification_configuration(
            Bucket=names.raw_bucket, NotificationConfiguration={"QueueConfigurations": [wanted]})
        report.note(f"s3-notification:{names.raw_bucket}->{names.uploads_queue}", True)


def _topics_and_bus(settings: Settings, report: ProvisionReport) -> None:
    sns = client("sns", settings)
    sqs = client("sqs", settings)
    existing_topics = {t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics().get("Topics", [])}
    for topic in (settings.names.alerts_topic, settings.names.reports_topic):
        topic_arn = sns.create_topic(Name=topic)["TopicArn"]  # idempotent by name
        report.note(f"sns:{topic}", topic not in existing_topics)
        _, inbox_arn = _queue(sqs, inbox_queue_name(topic), {}, report)
        subscribed = {s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])}
        if inbox_arn not in subscribed:
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn,
                          Attributes={"RawMessageDelivery": "false"})

    events = client("events", settings)
    bus = settings.names.event_bus
    try:
        events.create_event_bus(Name=bus)
        report.note(f"events:{bus}", True)
    except ClientError as exc:
        if not _exists_error(exc, "ResourceAlreadyExistsException"):
            raise
        report.note(f"events:{bus}", False)
    _, inbox_arn = _queue(sqs, inbox_queue_name(bus), {}, report)
    events.put_rule(Name="all-pipeline-events", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="all-pipeline-events", EventBusName=bus, Targets=[{"Id": "inbox", "Arn": inbox_arn}])


def _stream(settings: Settings, report: ProvisionReport, shards: int = 1) -> None:
    kinesis = client("kinesis", settings)
    name = settings.names.events_stream
    try:
        kinesis.describe_stream_summary(StreamName=name)
        report.note(f"kinesis:{name}", False)
    except ClientError as exc:
        if not _exists_error(exc, "ResourceNotFoundException"):
            raise
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        report.note(f"kinesis:{name}", True)


def _tables(settings: Settings, report: ProvisionReport) -> None:
    ddb = client("dynamodb", settings)
    existing = set(ddb.list_tables().get("TableNames", []))
    for attr, spec in TABLES.items():
        name = getattr(settings.names, attr)
        if name in existing:
            report.note(f"dynamodb:{name}", False)
            continue
        attributes = {a: t for a, t in spec["keys"]}
        key_schema = [{"AttributeName": spec["keys"][0][0], "KeyType": "HASH"}]
        if len(spec["keys"]) > 1:
            key_schema.append({"AttributeName": spec["keys"][1][0], "KeyType": "RANGE"})
        gsis = []
        for index, (hash_key, range_key) in spec["gsis"].items():
            attributes.update({hash_key[0]: hash_key[1], range_key[0]: range_key[1]})
            gsis.append({
                "IndexName": index,
                "KeySchema": [{"AttributeName": hash_key[0], "KeyType": "HASH"},
                              {"AttributeName": range_key[0], "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            })
        kwargs = {"GlobalSecondaryIndexes": gsis} if gsis else {}
        ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=key_schema,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in attributes.items()],
            **kwargs,
        )
        if spec["ttl"]:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl"]})
        report.note(f"dynamodb:{name}", True)


def _secret(settings: Settings, report: ProvisionReport, database_secret: dict | None) -> None:
    if database_secret is None:
        return
    secrets = client("secretsmanager", settings)
    secret_id = settings.names.db_secret_id
    value = json.dumps(database_secret)
    try:
        secrets.put_secret_value(SecretId=secret_id, SecretString=value)
        report.note(f"secret:{secret_id}", False)
    except ClientError as exc:
        if not _exists_error(exc, "ResourceNotFoundException"):
            raise
        secrets.create_secret(Name=secret_id, SecretString=value, Description="data-pipeline database credentials")
        report.note(f"secret:{secret_id}", True)


def provision(settings: Settings, database_secret: dict | None = None) -> ProvisionReport:
    """Create what is missing; leave what exists. ``database_secret`` is an RDS-style credentials dict."""
    report = ProvisionReport()
    _buckets(settings, report)
    _queues_and_notifications(settings, report)
    _topics_and_bus(settings, report)
    _stream(settings, report, shards=settings.stream.shards)
    _tables(settings, report)
    _secret(settings, report, database_secret)
    return report
