"""Network: a VPC whose private subnets reach every AWS API through endpoints, so no NAT is needed.

Dagster's ECS tasks, the analytics Lambda and RDS live in the ``private`` subnets. Gateway endpoints
serve S3 and DynamoDB; interface endpoints serve the rest (ECR image pulls, logs, Secrets Manager,
SQS, SNS, Kinesis, EventBridge, CloudWatch, ECS for the run launcher, STS). ``natGateways`` > 0
adds public subnets and egress for runs that must call the internet.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import InfraConfig, retention_days

INTERFACE_ENDPOINTS = {
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
    "Kinesis": ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
    "Events": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
}


class NetworkStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, **kwargs):
        super().__init__(scope, id, **kwargs)
        egress = config.nat_gateways > 0
        subnets = [ec2.SubnetConfiguration(
            name="private", cidr_mask=20,
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if egress else ec2.SubnetType.PRIVATE_ISOLATED)]
        if egress:
            subnets.append(ec2.SubnetConfiguration(name="public", cidr_mask=24,
                                                   subnet_type=ec2.SubnetType.PUBLIC))
        self.vpc = ec2.Vpc(
            self, "Vpc", vpc_name=f"{config.prefix}-vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr), max_azs=config.max_azs,
            nat_gateways=config.nat_gateways, subnet_configuration=subnets,
            restrict_default_security_group=True,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", log_group_name=f"/pipeline/{config.env}/vpc-flow-logs",
                                  retention=retention_days(config.log_retention_days),
                                  removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                              traffic_type=ec2.FlowLogTrafficType.ALL)
        private = ec2.SubnetSelection(subnet_group_name="private")
        for name, service in INTERFACE_ENDPOINTS.items():
            endpoint = self.vpc.add_interface_endpoint(name, service=service, subnets=private,
                                                       private_dns_enabled=True, open=False)
            # The literal CIDR (not the VPC's CidrBlock attribute) keeps the rule checkable (EC23).
            endpoint.connections.allow_default_port_from(ec2.Peer.ipv4(config.vpc_cidr), "HTTPS from the VPC")
        self.private_subnets = private
