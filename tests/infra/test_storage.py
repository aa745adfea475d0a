"""Storage stack: DESIGN.md section 5's stores, with the shapes `pipeline local up` provisions."""

from __future__ import annotations

from aws_cdk.assertions import Match

from pipeline_defs.local.provision import (
    FOURTEEN_DAYS,
    NONCURRENT_VERSION_DAYS,
    QUERY_RESULTS_EXPIRY_DAYS,
    TABLES,
    UPLOADS_MAX_RECEIVE_COUNT,
)


def _name(value) -> str:
    """A bucket name with the account token rendered as ACCOUNT."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else "ACCOUNT" for p in value["Fn::Join"][1])


def _buckets(synth) -> dict[str, dict]:
    return {_name(r["Properties"]["BucketName"]): r["Properties"]
            for r in synth.resources("storage", "AWS::S3::Bucket").values()}


def test_every_bucket_is_encrypted_private_logged_and_tls_only(synth):
    names = synth.config.names("ACCOUNT")
    buckets = _buckets(synth)
    expected = {names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.reports_bucket,
                names.results_bucket, synth.config.extra_bucket("dagster", "ACCOUNT"),
                synth.config.extra_bucket("access-logs", "ACCOUNT")}
    assert set(buckets) == expected
    for name, props in buckets.items():
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"}, name
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}, name
        if "access-logs" not in name:
            assert "LoggingConfiguration" in props, name
    policies = synth.resources("storage", "AWS::S3::BucketPolicy").values()
    tls_denies = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(tls_denies) == len(buckets)


def test_raw_is_versioned_and_tiered_and_results_expire(synth):
    names, config = synth.config.names("ACCOUNT"), synth.config
    buckets = _buckets(synth)
    raw = buckets[names.raw_bucket]
    assert raw["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = raw["LifecycleConfiguration"]["Rules"][0]
    assert [t["TransitionInDays"] for t in rule["Transitions"]] == [config.raw_ia_days, config.raw_glacier_days]
    assert [t["StorageClass"] for t in rule["Transitions"]] == ["STANDARD_IA", "GLACIER"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == config.raw_noncurrent_days
    results = buckets[names.results_bucket]["LifecycleConfiguration"]["Rules"][0]
    assert results["ExpirationInDays"] == QUERY_RESULTS_EXPIRY_DAYS
    quarantine = buckets[names.quarantine_bucket]["LifecycleConfiguration"]["Rules"][0]
    assert quarantine["ExpirationInDays"] == config.quarantine_expire_days


def test_lake_and_quarantine_are_versioned_and_expire_replaced_files(synth):
    names = synth.config.names("ACCOUNT")
    buckets = _buckets(synth)
    for bucket in (names.processed_bucket, names.quarantine_bucket):
        assert buckets[bucket]["VersioningConfiguration"] == {"Status": "Enabled"}, bucket
        (rule,) = buckets[bucket]["LifecycleConfiguration"]["Rules"]
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_VERSION_DAYS, bucket


def test_only_the_stream_processor_writes_the_raw_bucket(synth):
    """The pipeline role reads uploads; the archive under the raw bucket is the stream processor's."""
    raw = synth.config.names("ACCOUNT").raw_bucket
    writers = []
    for stack in synth.stacks:
        for policy in synth.resources(stack, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                if "s3:PutObject" in actions and any(f":::{raw}/" in _name(r) for r in resources):
                    writers += [role["Ref"] for role in policy["Properties"]["Roles"]]
    assert writers and all(role.startswith("ProcessorRole") for role in writers), writers


def test_uploads_queue_dlq_and_s3_notifications(synth):
    names = synth.config.names("ACCOUNT")
    template = synth.template("storage")
    queues = {r["Properties"]["QueueName"]: r["Properties"] for r in synth.resources("storage", "AWS::SQS::Queue").values()}
    assert set(queues) == {names.uploads_queue, names.uploads_dlq, names.stream_failures_queue}
    for props in queues.values():
        assert props["MessageRetentionPeriod"] == FOURTEEN_DAYS
        assert props["SqsManagedSseEnabled"] is True
    redrive = queues[names.uploads_queue]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == UPLOADS_MAX_RECEIVE_COUNT
    template.has_resource_properties("Custom::S3BucketNotifications", {
        "NotificationConfiguration": {"QueueConfigurations": [
            {"Events": ["s3:ObjectCreated:*"], "QueueArn": Match.any_value()}]}})


def test_kinesis_stream_is_encrypted_with_configured_shards(synth):
    synth.template("storage").has_resource_properties("AWS::Kinesis::Stream", {
        "Name": synth.config.names("").events_stream, "ShardCount": synth.config.shard_count,
        "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        "RetentionPeriodHours": synth.config.stream_retention_hours})


def test_dynamodb_tables_follow_the_provisioned_key_schemas(synth):
    names = synth.config.names("")
    tables = {r["Properties"]["TableName"]: r["Properties"] for r in synth.resources("storage", "AWS::DynamoDB::Table").values()}
    assert set(tables) == {getattr(names, attr) for attr in TABLES}
    for attr, spec in TABLES.items():
        props = tables[getattr(names, attr)]
        keys = [{"AttributeName": spec["keys"][0][0], "KeyType": "HASH"}]
        if len(spec["keys"]) > 1:
            keys.append({"AttributeName": spec["keys"][1][0], "KeyType": "RANGE"})
        assert props["KeySchema"] == keys, attr
        gsis = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]] for g in props.get("GlobalSecondaryIndexes", [])}
        assert gsis == {name: [h[0], r[0]] for name, (h, r) in spec["gsis"].items()}, attr
        if spec["ttl"]:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec["ttl"], "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["DeletionProtectionEnabled"] is True  # retainData defaults to true


def test_topics_are_kms_encrypted_and_the_bus_exists(synth):
    names = synth.config.names("")
    template = synth.template("storage")
    for topic in (names.alerts_topic, names.reports_topic):
        template.has_resource_properties("AWS::SNS::Topic", {"TopicName": topic, "KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::Events::EventBus", {"Name": names.event_bus})
    template.resource_count_is("AWS::SNS::Subscription", 0)  # alertEmail not set in tests
