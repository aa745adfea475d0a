"""Thin, typed Dagster resources for the AWS services the pipeline uses.

Each hands out a boto3 client configured like dagster-aws's own resources; the endpoint is
moto locally and AWS in the cloud, chosen by :mod:`pipeline_defs.settings`. Clients come from
:func:`pipeline_defs.aws.shared_client`, so a run's many steps share one per service.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dagster_aws.s3 import S3Resource as DagsterS3Resource
from dagster_aws.utils import ResourceWithBoto3Configuration

from pipeline_defs.aws import shared_client


def _client(resource: ResourceWithBoto3Configuration, service: str) -> Any:
    return shared_client(
        service,
        profile_name=resource.profile_name,
        max_attempts=resource.max_attempts,
        region_name=resource.region_name,
        endpoint_url=resource.endpoint_url,
        use_ssl=resource.use_ssl,
        verify=resource.verify,
        aws_access_key_id=resource.aws_access_key_id,
        aws_secret_access_key=resource.aws_secret_access_key,
        aws_session_token=resource.aws_session_token,
    )


class S3Resource(DagsterS3Resource):
    """S3: raw uploads, the Parquet lake, quarantine, reports (dagster-aws's resource, shared client)."""

    def get_client(self) -> Any:
        if self.use_unsigned_session:
            return super().get_client()
        return _client(self, "s3")


class _Boto3ClientResource(ResourceWithBoto3Configuration):
    service_name: ClassVar[str]

    def get_client(self) -> Any:
        return _client(self, self.service_name)


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
