"""One construct for every pipeline Lambda: own role, own log group with retention, local bundle.

The role starts empty (no AWS managed policies) and each stack adds exactly what its function
uses through :func:`infra.iam.allow`; the log group is created here so retention is ours and the
role can write only to it.
"""

from __future__ import annotations

from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import DependencyCache, FunctionSource, LocalPythonBundler
from infra.config import InfraConfig, retention_days
from infra.iam import allow
from infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest CDK knows (AwsSolutions-L1); see bundling.LAMBDA_PYTHON
# The bundler never fails over to Docker; CDK still wants an image name in BundlingOptions.
_NO_DOCKER = DockerImage.from_registry("local-bundling-only")


def dependency_cache(config: InfraConfig) -> DependencyCache:
    return DependencyCache(config.lambda_deps_cache, offline=config.lambda_deps_offline,
                           wheelhouse=config.lambda_wheelhouse or None)


class PipelineFunction(Construct):
    """A Python Lambda built from ``infra/functions/<name>/`` with the shared contracts bundled."""

    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, name: str,
                 description: str, environment: dict[str, str], memory_mb: int, timeout_s: int,
                 vpc: ec2.IVpc | None = None, security_groups: list[ec2.ISecurityGroup] | None = None):
        super().__init__(scope, id)
        source = FunctionSource.locate(config.source_root, name)  # fails early, naming the folder
        function_name = config.function_name(name)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=f"{function_name}: only what this function calls")
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=f"/aws/lambda/{function_name}",
            retention=retention_days(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY)
        allow(self.role, ["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn])
        code = lambda_.Code.from_asset(
            str(source.function_dir),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=source.asset_hash(),
            bundling=BundlingOptions(image=_NO_DOCKER,
                                     local=LocalPythonBundler(source, dependency_cache(config))),
        )
        self.function = lambda_.Function(
            self, "Function", function_name=function_name, description=description,
            runtime=RUNTIME, architecture=lambda_.Architecture.X86_64, handler="handler.handler",
            code=code, role=self.role, log_group=self.log_group, memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s), tracing=lambda_.Tracing.ACTIVE,
            environment={
                "PIPELINE_ENV": config.env,
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "Pipeline",
                **environment,
            },
            vpc=vpc, security_groups=security_groups,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="private") if vpc else None,
        )
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray PutTraceSegments/PutTelemetryRecords (added by Tracing.ACTIVE) have no "
                    "resource-level permissions; '*' is the only valid resource for them")
        if vpc is not None:
            # What AWSLambdaVPCAccessExecutionRole grants, without the managed policy (IAM4).
            allow(self.role, ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                              "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                              "ec2:UnassignPrivateIpAddresses", "ec2:DescribeSubnets"], ["*"],
                  why_wildcard="Lambda creates its VPC network interfaces before they exist, so the "
                               "ENI actions cannot name a resource ARN (AWS documents '*')")
