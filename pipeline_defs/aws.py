"""boto3 clients built from settings, so the endpoint (moto locally, AWS in the cloud) is decided once."""

from __future__ import annotations

import boto3
from botocore.config import Config

from pipeline_defs.settings import Settings, get_settings

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service: str, settings: Settings | None = None):
    """A boto3 client for ``service`` pointed at the configured endpoint and region."""
    settings = settings or get_settings()
    credentials = {}
    if settings.aws_credentials:
        credentials = {"aws_access_key_id": settings.aws_credentials[0],
                       "aws_secret_access_key": settings.aws_credentials[1]}
    return boto3.client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_RETRIES,
        **credentials,
    )


def sns_topic_arn(sns, topic_name: str, account_id: str) -> str:
    """An SNS topic's ARN, built rather than listed: the pipeline's role may publish but not list topics."""
    return f"arn:{sns.meta.partition}:sns:{sns.meta.region_name}:{account_id}:{topic_name}"


def topic_arn(settings: Settings, topic_name: str) -> str:
    """The same, with the account looked up from the caller's identity."""
    account = client("sts", settings).get_caller_identity()["Account"]
    return sns_topic_arn(client("sns", settings), topic_name, account)
