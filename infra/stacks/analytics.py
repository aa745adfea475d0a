"""Analytics: the analytics API Lambda, inside the VPC next to PostgreSQL.

It reads the warehouse as the read-only role: ``PIPELINE_DB_SECRET_ID`` points it at the
read-only secret, so the settings module resolves the URL exactly as locally. It caches results
in the query-cache table and writes large results to the query-results bucket, whose objects it
also reads to presign download URLs. For the cross-system counts of ``data_integrity_analysis``
it may read the processed bucket and the state, aggregate and real-time tables. An EventBridge
rule hands it every ``PartitionLoaded`` event (cache invalidation). Its routes are declared in the
Api stack (``ANALYTICS_ROUTES``).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.config import InfraConfig, env_for
from infra.iam import DDB_DELETE, DDB_READ, DDB_WRITE, S3_LIST, S3_READ, S3_WRITE, SECRET_READ, Arns, allow
from infra.lambdas import PipelineFunction
from infra.stacks.database import DatabaseStack
from infra.stacks.stream import table_resources

RESULTS_PREFIX = "results/"  # the only prefix the API writes, presigns and serves via /download


class AnalyticsStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, vpc: ec2.IVpc,
                 database: DatabaseStack, **kwargs):
        super().__init__(scope, id, **kwargs)
        names = config.names(Aws.ACCOUNT_ID)
        arns = Arns(self)
        self.security_group = ec2.SecurityGroup(
            self, "AnalyticsSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Analytics Lambda: egress to PostgreSQL and the VPC endpoints only (no NAT)")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "AWS APIs through the VPC endpoints (no NAT, so nothing else)")
        self.security_group.connections.allow_to_default_port(
            database.instance, "analytics Lambda -> PostgreSQL (read-only role)")

        environment = env_for(names, "cache_table", "results_bucket", "processed_bucket",
                              "state_table", "aggregates_table", "realtime_table")
        # Its own knob (analytics_api/config.py), kept equal to the role's timeout set by bootstrap.
        environment["PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS"] = str(config.analytics_statement_timeout_ms)
        # The same variable the owner's secret uses, holding the read-only secret's name.
        environment.update({var: config.readonly_secret_id for var in env_for(names, "db_secret_id")})
        self.analytics = PipelineFunction(
            self, "Analytics", config=config, name="analytics",
            description="GET /health, GET|POST /analytics, GET /download/{key}",
            environment=environment, memory_mb=config.analytics_memory_mb,
            timeout_s=config.analytics_timeout_seconds, vpc=vpc, security_groups=[self.security_group])
        role = self.analytics.role
        allow(role, SECRET_READ, [arns.secret(config.readonly_secret_id)])
        allow(role, DDB_READ + DDB_WRITE + DDB_DELETE, table_resources(arns, names, "cache_table"))
        allow(role, DDB_READ, table_resources(arns, names, "aggregates_table")
              + table_resources(arns, names, "realtime_table") + table_resources(arns, names, "state_table"))
        allow(role, S3_READ + S3_WRITE, [arns.objects(names.results_bucket, RESULTS_PREFIX)],
              why_wildcard="Large results get a generated key under results/ in the query-results "
                           "bucket (written, then presigned); nothing outside that prefix is reachable")
        allow(role, S3_LIST, [arns.bucket(names.processed_bucket)])
        allow(role, S3_READ, [arns.objects(names.processed_bucket)],
              why_wildcard="data_integrity_analysis counts rows in the Parquet lake, whose object keys "
                           "(<dataset>/dt=YYYY-MM-DD/part-*.parquet) are not known in advance; read-only")

        # Cache invalidation: every PartitionLoaded event bumps that dataset's version in the cache.
        bus = events.EventBus.from_event_bus_name(self, "Bus", names.event_bus)
        events.Rule(self, "PartitionLoadedToAnalytics", event_bus=bus,
                    rule_name=f"{config.prefix}-analytics-cache-invalidation",
                    description="PartitionLoaded/AnalyticsRefreshed -> analytics Lambda (bumps the dataset's cache version)",
                    event_pattern=events.EventPattern(detail_type=["PartitionLoaded", "AnalyticsRefreshed"]),
                    targets=[targets.LambdaFunction(self.analytics.function, retry_attempts=8,
                                                    max_event_age=Duration.hours(2))])
