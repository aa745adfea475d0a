"""Thin, typed Dagster resources for the AWS services the pipeline uses (besides S3).

Each hands out a boto3 client configured like dagster-aws's own resources; the endpoint is
moto locally and AWS in the cloud, chosen by :mod:`pipeline_defs.settings`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import boto3
from botocore.config import Config
from dagster_aws.utils import ResourceWithBoto3Configuration


class _Boto3ClientResource(ResourceWithBoto3Configuration):
    service_name: ClassVar[str]

    def get_client(self) -> Any:
        session = boto3.session.Session(profile_name=self.profile_name)
        return session.client(
            self.service_name,
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"}),
        )


class DynamoDBResource(_Boto3ClientResource):
    """DynamoDB: processing state, aggregates, report history."""

    service_name: ClassVar[str] = "dynamodb"


class SQSResource(_Boto3ClientResource):
    """SQS: S3 upload notifications and dead-letter queues."""

    service_name: ClassVar[str] = "sqs"


class SNSResource(_Boto3ClientResource):
    """SNS: alerts and report notifications."""

    service_name: ClassVar[str] = "sns"


class KinesisResource(_Boto3ClientResource):
    """Kinesis: the hot-path event stream."""

    service_name: ClassVar[str] = "kinesis"


class EventBridgeResource(_Boto3ClientResource):
    """EventBridge: PartitionLoaded / ReportPublished events for downstream consumers."""

    service_name: ClassVar[str] = "events"
