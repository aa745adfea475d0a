"""Storage: the buckets, queues, stream, tables, topics and bus of the platform (locally: pipeline_defs/local/provision.py).

Names come from ``config.names`` (ResourceNames with the env woven in); key schemas, the DLQ's
maxReceiveCount, retention and query-result expiry come from ``pipeline_defs.local.provision``,
so ``pipeline local up`` and AWS have the same layout. Every bucket is encrypted, private,
TLS-only and logs its access into the access-log bucket.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import InfraConfig
from infra.nag import acknowledge
from pipeline_defs.local.provision import (
    FOURTEEN_DAYS,
    NONCURRENT_VERSION_DAYS,
    QUERY_RESULTS_EXPIRY_DAYS,
    TABLES,
    UPLOADS_MAX_RECEIVE_COUNT,
)
from pipeline_defs.settings import RESOURCE_ENV

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER,
                    "B": dynamodb.AttributeType.BINARY}
UPLOADS_VISIBILITY_SECONDS = 60  # same as the local queue: the sensor's processing window


class StorageStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, **kwargs):
        super().__init__(scope, id, **kwargs)
        self.config = config
        self.names = names = config.names(Aws.ACCOUNT_ID)
        self.removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.access_logs = s3.Bucket(
            self, "AccessLogs", bucket_name=config.extra_bucket("access-logs", Aws.ACCOUNT_ID),
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=self.removal,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs",
                                              expiration=Duration.days(config.access_logs_expire_days))])
        acknowledge(self.access_logs, "AwsSolutions-S1",
                    "This bucket is the server-access-log target of every other bucket; logging it "
                    "into itself would create a feedback loop of log objects")
        self.access_logs.add_to_resource_policy(iam.PolicyStatement(
            sid="S3ServerAccessLogsFromThisAccount",
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")], actions=["s3:PutObject"],
            resources=[self.access_logs.arn_for_objects("*")],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))

        ia, glacier = s3.StorageClass.INFREQUENT_ACCESS, s3.StorageClass.GLACIER
        self.raw = self._bucket("Raw", names.raw_bucket, versioned=True, rules=[s3.LifecycleRule(
            id="tier-raw", transitions=[
                s3.Transition(storage_class=ia, transition_after=Duration.days(config.raw_ia_days)),
                s3.Transition(storage_class=glacier, transition_after=Duration.days(config.raw_glacier_days))],
            noncurrent_version_expiration=Duration.days(config.raw_noncurrent_days),
            abort_incomplete_multipart_upload_after=Duration.days(7))])
        # Re-runs replace lake and quarantine files: versioned, so a replaced file stays recoverable
        # for NONCURRENT_VERSION_DAYS (the same rule `pipeline local up` provisions).
        replaced = Duration.days(NONCURRENT_VERSION_DAYS)
        self.processed = self._bucket("Processed", names.processed_bucket, versioned=True, rules=[s3.LifecycleRule(
            id="tier-processed", abort_incomplete_multipart_upload_after=Duration.days(7),
            noncurrent_version_expiration=replaced,
            transitions=[s3.Transition(storage_class=ia,
                                       transition_after=Duration.days(config.processed_ia_days))])])
        self.quarantine = self._bucket("Quarantine", names.quarantine_bucket, versioned=True, rules=[s3.LifecycleRule(
            id="expire-quarantine", expiration=Duration.days(config.quarantine_expire_days),
            noncurrent_version_expiration=replaced)])
        self.reports = self._bucket("Reports", names.reports_bucket, rules=[s3.LifecycleRule(
            id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(7))])
        self.results = self._bucket("QueryResults", names.results_bucket, rules=[s3.LifecycleRule(
            id="expire-query-results", expiration=Duration.days(QUERY_RESULTS_EXPIRY_DAYS))])
        self.dagster_bucket_name = config.extra_bucket("dagster", Aws.ACCOUNT_ID)
        self.dagster = self._bucket("Dagster", self.dagster_bucket_name, rules=[s3.LifecycleRule(
            id="expire-compute-logs", prefix="compute-logs/",
            expiration=Duration.days(config.quarantine_expire_days))])

        self._queues()
        self.stream = kinesis.Stream(
            self, "EventsStream", stream_name=names.events_stream, shard_count=config.shard_count,
            stream_mode=kinesis.StreamMode.PROVISIONED, encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(config.stream_retention_hours))
        self.stream.apply_removal_policy(self.removal)
        self.tables = {attr: self._table(attr, spec) for attr, spec in TABLES.items()}
        self._notifications()
        self.bus = events.EventBus(self, "Bus", event_bus_name=names.event_bus)
        self._outputs()

    def _bucket(self, id: str, name: str, *, rules: list[s3.LifecycleRule], versioned: bool = False) -> s3.Bucket:
        return s3.Bucket(
            self, id, bucket_name=name, versioned=versioned, lifecycle_rules=rules,
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix=f"{id.lower()}/",
            removal_policy=self.removal)

    def _queues(self) -> None:
        names, retention = self.names, Duration.seconds(FOURTEEN_DAYS)
        common = dict(retention_period=retention, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
        self.uploads_dlq = sqs.Queue(self, "UploadsDlq", queue_name=names.uploads_dlq, **common)
        acknowledge(self.uploads_dlq, "AwsSolutions-SQS3",
                    "This queue is the dead-letter queue of the uploads queue; `pipeline dlq redrive` "
                    "replays it, so it needs no DLQ of its own")
        self.uploads = sqs.Queue(
            self, "UploadsQueue", queue_name=names.uploads_queue,
            visibility_timeout=Duration.seconds(UPLOADS_VISIBILITY_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=UPLOADS_MAX_RECEIVE_COUNT,
                                                  queue=self.uploads_dlq), **common)
        self.stream_failures = sqs.Queue(self, "StreamFailures", queue_name=names.stream_failures_queue, **common)
        acknowledge(self.stream_failures, "AwsSolutions-SQS3",
                    "This queue is itself the on-failure destination of the Kinesis event source "
                    "mapping (a dead-letter queue); its records are replayed by `pipeline dlq redrive`")
        self.raw.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.uploads))
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is not None:  # CDK's singleton that applies S3 notification configuration
            acknowledge(handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                        "CDK's BucketNotificationsHandler custom resource ships with this role; it "
                        "only writes its own logs and runs during deployment")
            acknowledge(handler, "AwsSolutions-IAM5[Resource::*]",
                        "CDK's BucketNotificationsHandler calls s3:PutBucketNotification, which it "
                        "scopes to '*' because the bucket is passed at deploy time")

    def _table(self, attr: str, spec: dict) -> dynamodb.Table:
        keys = spec["keys"]
        table = dynamodb.Table(
            self, "".join(part.capitalize() for part in attr.split("_")),
            table_name=getattr(self.names, attr),
            partition_key=dynamodb.Attribute(name=keys[0][0], type=_ATTRIBUTE_TYPES[keys[0][1]]),
            sort_key=(dynamodb.Attribute(name=keys[1][0], type=_ATTRIBUTE_TYPES[keys[1][1]])
                      if len(keys) > 1 else None),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=spec["ttl"], deletion_protection=self.config.retain_data,
            removal_policy=self.removal)
        for index, (hash_key, range_key) in spec["gsis"].items():
            table.add_global_secondary_index(
                index_name=index, projection_type=dynamodb.ProjectionType.ALL,
                partition_key=dynamodb.Attribute(name=hash_key[0], type=_ATTRIBUTE_TYPES[hash_key[1]]),
                sort_key=dynamodb.Attribute(name=range_key[0], type=_ATTRIBUTE_TYPES[range_key[1]]))
        return table

    def _notifications(self) -> None:
        # A customer-managed key: CloudWatch alarms cannot publish to a topic under aws/sns.
        self.notifications_key = kms.Key(
            self, "NotificationsKey", alias=f"alias/{self.config.prefix}-notifications",
            description="Encrypts the alerts and reports topics", enable_key_rotation=True,
            removal_policy=self.removal)
        self.notifications_key.add_to_resource_policy(iam.PolicyStatement(
            sid="AlarmsAndEventsPublish", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                        iam.ServicePrincipal("events.amazonaws.com")],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        self.topics = {}
        for attr, id in (("alerts_topic", "AlertsTopic"), ("reports_topic", "ReportsTopic")):
            topic = sns.Topic(self, id, topic_name=getattr(self.names, attr),
                              master_key=self.notifications_key, enforce_ssl=True)
            topic.add_to_resource_policy(iam.PolicyStatement(
                sid="CloudWatchAlarms", actions=["sns:Publish"], resources=[topic.topic_arn],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
            self.topics[attr] = topic
        if self.config.alert_email:
            self.topics["alerts_topic"].add_subscription(
                subscriptions.EmailSubscription(self.config.alert_email))

    def _outputs(self) -> None:
        for var, attr in RESOURCE_ENV.items():
            if attr == "db_secret_id":
                continue  # the Database stack owns (and outputs) the secret
            CfnOutput(self, "".join(p.capitalize() for p in var.split("_")),  # PipelineRawBucket
                      value=getattr(self.names, attr), description=var)
        CfnOutput(self, "DagsterBucket", value=self.dagster_bucket_name,
                  description="Dagster compute logs (DAGSTER_COMPUTE_LOGS_BUCKET)")
