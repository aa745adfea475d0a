"""Resources per environment, built from settings: moto + local PostgreSQL locally, AWS in the cloud.

Only endpoints and region differ between environments; credentials come from the environment
(or the task role on AWS) and the database URL from the settings' resolution (Secrets Manager).
"""

from __future__ import annotations

from pipeline_defs.settings import Settings
from resources.aws import DynamoDBResource, EventBridgeResource, KinesisResource, S3Resource, SNSResource, SQSResource
from resources.postgres import PostgresResource


def build_resources(settings: Settings) -> dict[str, object]:
    aws = {"region_name": settings.aws_region, "endpoint_url": settings.aws_endpoint_url}
    return {
        "s3": S3Resource(**aws),
        "dynamodb": DynamoDBResource(**aws),
        "sqs": SQSResource(**aws),
        "sns": SNSResource(**aws),
        "kinesis": KinesisResource(**aws),
        "eventbridge": EventBridgeResource(**aws),
        "postgres": PostgresResource(database_url=settings.database_url),
    }
