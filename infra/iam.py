"""Least-privilege IAM: named actions only, ARNs built from the shared names, wildcards justified.

CDK's ``grant*`` helpers emit wildcard actions (``s3:GetObject*``, ``kms:GenerateDataKey*``); the
issue forbids those, so statements here list every action. ARNs are built from
:class:`~pipeline_defs.settings.ResourceNames` rather than imported across stacks, which keeps the
stacks loosely coupled and makes each IAM5 finding a predictable string that can be acknowledged
where the statement is written.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge, resource_finding

# Action sets, spelled out (no wildcards). "read"/"write" are as narrow as the pipeline needs.
S3_READ = ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectTagging")
S3_LIST = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
S3_WRITE = ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts")
S3_DELETE = ("s3:DeleteObject", "s3:DeleteObjectVersion")
DDB_READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem")
DDB_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem")
DDB_DELETE = ("dynamodb:DeleteItem",)
DDB_SCAN = ("dynamodb:Scan",)
SQS_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
               "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
SQS_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
KINESIS_PUT = ("kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary",
               "kinesis:ListShards")
KINESIS_READ = ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards",
                "kinesis:GetShardIterator", "kinesis:GetRecords")
SECRET_READ = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
KMS_USE = ("kms:Decrypt", "kms:GenerateDataKey")


class Arns:
    """ARNs of the shared resources from their names, in the partition/region/account of ``scope``."""

    def __init__(self, scope: Construct):
        self.stack = Stack.of(scope)

    def bucket(self, name: str) -> str:
        return f"arn:{Aws.PARTITION}:s3:::{name}"

    def objects(self, name: str, prefix: str = "") -> str:
        return f"arn:{Aws.PARTITION}:s3:::{name}/{prefix}*"

    def table(self, name: str) -> str:
        return self.stack.format_arn(service="dynamodb", resource="table", resource_name=name)

    def index(self, table: str, index: str) -> str:
        return self.stack.format_arn(service="dynamodb", resource="table",
                                     resource_name=f"{table}/index/{index}")

    def queue(self, name: str) -> str:
        return self.stack.format_arn(service="sqs", resource=name,
                                     arn_format=ArnFormat.NO_RESOURCE_NAME)

    def stream(self, name: str) -> str:
        return self.stack.format_arn(service="kinesis", resource="stream", resource_name=name)

    def topic(self, name: str) -> str:
        return self.stack.format_arn(service="sns", resource=name, arn_format=ArnFormat.NO_RESOURCE_NAME)

    def bus(self, name: str) -> str:
        return self.stack.format_arn(service="events", resource="event-bus", resource_name=name)

    def secret(self, name: str) -> str:
        # Secrets Manager appends "-" and six random characters; '?' matches exactly one each.
        return self.stack.format_arn(service="secretsmanager", resource="secret",
                                     resource_name=f"{name}-??????",
                                     arn_format=ArnFormat.COLON_RESOURCE_NAME)


def allow(role: iam.Role, actions: Iterable[str], resources: Iterable[str], *,
          why_wildcard: str | None = None, conditions: Mapping | None = None) -> None:
    """Add one Allow statement to ``role``; any ``*`` in a resource needs ``why_wildcard``.

    The reason is recorded as the cdk-nag acknowledgment of exactly that resource string, so a
    wildcard cannot slip in unexplained and nothing else on the role is acknowledged with it.
    """
    actions, resources = list(actions), list(resources)
    wild = [a for a in actions if "*" in a]
    if wild:
        raise ValueError(f"wildcard actions are not allowed: {wild}")
    for resource in resources:
        finding = resource_finding(role, resource)
        if "*" in finding:
            if not why_wildcard:
                raise ValueError(f"{finding} on {role.node.path} needs why_wildcard")
            acknowledge(role, finding, why_wildcard)
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=sorted(set(actions)), resources=resources, conditions=dict(conditions) if conditions else None))


def service_role(scope: Construct, id: str, service: str, description: str) -> iam.Role:
    """A role with no policies yet; every permission is added with :func:`allow`."""
    return iam.Role(scope, id, assumed_by=iam.ServicePrincipal(service), description=description)
