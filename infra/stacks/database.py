"""Database: RDS PostgreSQL in the private subnets, credentials in Secrets Manager with rotation.

Two secrets: the owner's (``ResourceNames.db_secret_id``, read by Dagster and the pipeline through
``PIPELINE_DB_SECRET_ID``) and a read-only one for the analytics API (``<db_secret_id>-readonly``,
handed to that Lambda through the same variable). The read-only role itself is created and granted
by ``infra/dagster/bootstrap.py`` when the code server starts, after the migrations.

The security group has no ingress of its own: each client stack (Analytics, Orchestration) adds a
rule from its own security group with ``connections.allow_to_default_port``, so only those
Lambdas and tasks (and the rotation functions) reach the port.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import InfraConfig, retention_days
from infra.nag import acknowledge

DATABASE_NAME = "pipeline"
OWNER_USER = "pipeline_admin"
READONLY_USER = "analytics_ro"
EXCLUDED_PASSWORD_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"  # safe inside a libpq URL
ENGINE = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_13)  # local is 16


class DatabaseStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, vpc: ec2.IVpc, **kwargs):
        super().__init__(scope, id, **kwargs)
        names = config.names(Aws.ACCOUNT_ID)
        private = ec2.SubnetSelection(subnet_group_name="private")
        self.security_group = ec2.SecurityGroup(
            self, "DbSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="PostgreSQL: ingress only from the analytics Lambda, Dagster tasks and rotation")
        parameters = rds.ParameterGroup(self, "Parameters", engine=ENGINE, parameters={
            "rds.force_ssl": "1",
            "log_min_duration_statement": "1000",  # log statements slower than 1 s
        })
        log_groups = [logs.LogGroup(
            self, f"{kind.capitalize()}Logs", log_group_name=f"/aws/rds/instance/{config.db_instance_id}/{kind}",
            retention=retention_days(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY)
            for kind in ("postgresql", "upgrade")]
        self.instance = rds.DatabaseInstance(
            self, "Postgres", engine=ENGINE, instance_identifier=config.db_instance_id,
            instance_type=ec2.InstanceType(config.db_instance_class), vpc=vpc, vpc_subnets=private,
            security_groups=[self.security_group], port=config.db_port, database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                OWNER_USER, secret_name=names.db_secret_id, exclude_characters=EXCLUDED_PASSWORD_CHARACTERS),
            storage_encrypted=True, storage_type=rds.StorageType.GP3,
            allocated_storage=config.db_allocated_storage_gb,
            max_allocated_storage=config.db_max_allocated_storage_gb,
            multi_az=config.multi_az, backup_retention=Duration.days(config.db_backup_days),
            deletion_protection=config.retain_data, iam_authentication=True,
            removal_policy=RemovalPolicy.SNAPSHOT if config.retain_data else RemovalPolicy.DESTROY,
            cloudwatch_logs_exports=["postgresql", "upgrade"], parameter_group=parameters,
            auto_minor_version_upgrade=True, copy_tags_to_snapshot=True)
        for group in log_groups:  # ours, with retention, before RDS would create them without
            self.instance.node.add_dependency(group)
        if not config.multi_az:
            acknowledge(self.instance, "AwsSolutions-RDS3",
                        f"env '{config.env}' runs a single-AZ instance to halve its cost; env=prod (or "
                        "-c dbMultiAz=true) deploys Multi-AZ, and backups allow point-in-time restore")
        self.owner_secret = self.instance.secret
        self.instance.add_rotation_single_user(
            automatically_after=Duration.days(config.db_rotation_days),
            exclude_characters=EXCLUDED_PASSWORD_CHARACTERS)

        readonly = rds.DatabaseSecret(
            self, "ReadOnlySecret", username=READONLY_USER, secret_name=config.readonly_secret_id,
            dbname=DATABASE_NAME, master_secret=self.owner_secret,
            exclude_characters=EXCLUDED_PASSWORD_CHARACTERS)
        self.readonly_secret = readonly.attach(self.instance)  # adds host, port, engine to the secret
        secretsmanager.SecretRotation(
            self, "ReadOnlyRotation", secret=self.readonly_secret, target=self.instance, vpc=vpc,
            vpc_subnets=private, automatically_after=Duration.days(config.db_rotation_days),
            application=secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
            exclude_characters=EXCLUDED_PASSWORD_CHARACTERS)

        CfnOutput(self, "DbEndpoint", value=self.instance.db_instance_endpoint_address,
                  description="PostgreSQL host (private)")
        CfnOutput(self, "DbPort", value=str(config.db_port))
        CfnOutput(self, "DbSecretId", value=names.db_secret_id, description="PIPELINE_DB_SECRET_ID")
        CfnOutput(self, "DbReadOnlySecretId", value=config.readonly_secret_id,
                  description="PIPELINE_DB_SECRET_ID of the analytics Lambda")
