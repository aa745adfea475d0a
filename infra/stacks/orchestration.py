"""Orchestration: Dagster on ECS Fargate, from one image built from the repo-root Dockerfile.

* code server: ``dagster api grpc`` behind Cloud Map (``code-server.<namespace>:4000``); before
  serving it runs ``infra/dagster/bootstrap.py prepare`` (migrations + database roles) and only
  reports healthy once the gRPC server answers.
* webserver: the UI, behind an *internal* ALB (reach it over VPN/Direct Connect or an SSM port
  forward); daemon: schedules, sensors, run queue, run monitoring - always exactly one task.
* runs: ``EcsRunLauncher`` starts each run as its own task from the ``run`` task definition.
* instance storage: RDS PostgreSQL via dagster-postgres with RDS IAM tokens (see dagster.yaml);
  the pipeline itself reads its database secret at run time through ``PIPELINE_DB_SECRET_ID``.
Each kind of task has its own role; the pipeline's data permissions live on the code-server/run role.
"""

from __future__ import annotations

from aws_cdk import Aws, ArnFormat, CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from infra import iam as perms
from infra.config import REPO_ROOT, InfraConfig, retention_days
from infra.iam import Arns, allow
from infra.nag import acknowledge
from infra.pipeline_access import grant_pipeline_data
from infra.stacks.database import DATABASE_NAME, DatabaseStack
from infra.stacks.storage import StorageStack

CODE_PORT, UI_PORT = 4000, 3000
LOCATION_NAME = "data_pipeline"  # as in the repo-root workspace.yaml
DAGSTER_ROLE = "dagster"  # the database role of instance storage (infra/dagster/bootstrap.py)
MAX_CONCURRENT_RUNS = 5
_WAIT = ('python -m infra.dagster.bootstrap wait --host "$DAGSTER_PG_HOST" --port "$DAGSTER_PG_PORT" '
         '--dbname "$DAGSTER_PG_DB" --user "$DAGSTER_PG_USER" --region "$AWS_REGION"')


class OrchestrationStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, vpc: ec2.IVpc,
                 storage: StorageStack, database: DatabaseStack, **kwargs):
        super().__init__(scope, id, **kwargs)
        self.add_stack_dependency(storage)  # data resources are addressed by name, not by export
        self.config, self.database = config, database
        names = config.names(Aws.ACCOUNT_ID)
        self.arns = Arns(self)
        private = ec2.SubnetSelection(subnet_group_name="private")

        self.cluster = ecs.Cluster(self, "Cluster", cluster_name=config.cluster_name, vpc=vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=f"{config.prefix}.dagster.internal", vpc=vpc,
            description="Dagster code server discovery")
        self.log_group_name = f"/pipeline/{config.env}/dagster"
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=self.log_group_name,
            retention=retention_days(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY)
        self.image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), file="Dockerfile", platform=ecr_assets.Platform.LINUX_AMD64,
            ignore_mode=IgnoreMode.DOCKER)
        self.tasks_sg = ec2.SecurityGroup(self, "TasksSecurityGroup", vpc=vpc, allow_all_outbound=False,
                                          description="Dagster webserver, daemon, code server and runs")
        self.tasks_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                      "AWS APIs and ECR through the VPC endpoints (internet only with a NAT)")
        self.tasks_sg.connections.allow_to_default_port(database.instance, "Dagster tasks -> PostgreSQL")
        self.tasks_sg.connections.allow_internally(ec2.Port.tcp(CODE_PORT), "webserver/daemon/runs -> code server")

        self.execution_role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                       description="Pulls the Dagster image and writes its logs")
        acknowledge(self.execution_role, "AwsSolutions-IAM5[Resource::*]",
                    "ecr:GetAuthorizationToken (added by CDK for the image asset) has no resource-level "
                    "permissions; the layer/image actions are scoped to the asset repository")
        self.roles = {kind: iam.Role(self, f"{kind.capitalize()}Role",
                                     assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                     description=f"Dagster {kind} task role")
                      for kind in ("webserver", "daemon", "pipeline")}

        self.run_task = self._task("run", "run", config.run_cpu, config.run_memory_mb, self.roles["pipeline"],
                                   names.as_env(), command=None)
        dagster_env: dict[str, str] = {
            "DAGSTER_PG_HOST": database.instance.db_instance_endpoint_address,
            "DAGSTER_PG_PORT": str(config.db_port), "DAGSTER_PG_DB": DATABASE_NAME,
            "DAGSTER_PG_USER": DAGSTER_ROLE, "DAGSTER_RUN_TASK_DEFINITION": self.run_task.task_definition_arn,
            "DAGSTER_COMPUTE_LOGS_BUCKET": storage.dagster_bucket_name,
            "DAGSTER_MAX_CONCURRENT_RUNS": str(MAX_CONCURRENT_RUNS),
            "DAGSTER_CODE_SERVER_HOST": f"code-server.{config.prefix}.dagster.internal",
            "DAGSTER_CODE_SERVER_PORT": str(CODE_PORT),
        }
        run_container = self.run_task.default_container
        for key, value in dagster_env.items():
            if key != "DAGSTER_RUN_TASK_DEFINITION":
                run_container.add_environment(key, value)
        # A task definition cannot contain its own ARN; the run container names its family instead
        # (EcsRunLauncher resolves it to the latest revision). The long-running services get the
        # exact ARN, so a new run revision also rolls them.
        run_container.add_environment("DAGSTER_RUN_TASK_DEFINITION", self.run_task.family)

        code_task = self._task(
            "code-server", "code-server", config.code_server_cpu, config.code_server_memory_mb,
            self.roles["pipeline"], {**names.as_env(), **dagster_env}, port=CODE_PORT,
            command=["sh", "-c", "python -m infra.dagster.bootstrap prepare "
                     f"--readonly-secret-id '{config.readonly_secret_id}' "
                     f"--statement-timeout-ms {config.analytics_statement_timeout_ms} && exec dagster api grpc "
                     f"--module-name pipeline_defs.definitions --host 0.0.0.0 --port {CODE_PORT} "
                     f"--location-name {LOCATION_NAME}"],
            health=ecs.HealthCheck(command=["CMD-SHELL", f"dagster api grpc-health-check -p {CODE_PORT} || exit 1"],
                                   start_period=Duration.seconds(300), interval=Duration.seconds(30)))
        web_task = self._task(
            "webserver", "webserver", config.webserver_cpu, config.webserver_memory_mb, self.roles["webserver"],
            dagster_env, port=UI_PORT, command=["sh", "-c", f"{_WAIT} && exec dagster-webserver -h 0.0.0.0 "
                                                 f"-p {UI_PORT} -w \"$DAGSTER_HOME/workspace.yaml\""])
        daemon_task = self._task(
            "daemon", "daemon", config.daemon_cpu, config.daemon_memory_mb, self.roles["daemon"], dagster_env,
            command=["sh", "-c", f"{_WAIT} && exec dagster-daemon run -w \"$DAGSTER_HOME/workspace.yaml\""])

        def service(id: str, task: ecs.FargateTaskDefinition, **extra) -> ecs.FargateService:
            kind = {"CodeServer": "code-server"}.get(id, id.lower())
            return ecs.FargateService(
                self, id, cluster=self.cluster, task_definition=task, desired_count=1,
                service_name=config.dagster_service(kind),
                security_groups=[self.tasks_sg], vpc_subnets=private, assign_public_ip=False,
                circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True), **extra)

        self.code_service = service("CodeServer", code_task, min_healthy_percent=100, max_healthy_percent=200,
                                    cloud_map_options=ecs.CloudMapOptions(
                                        name="code-server", cloud_map_namespace=namespace,
                                        dns_record_type=servicediscovery.DnsRecordType.A))
        self.daemon_service = service("Daemon", daemon_task, min_healthy_percent=0, max_healthy_percent=100)
        self.web_service = service("Webserver", web_task, min_healthy_percent=100, max_healthy_percent=200,
                                   health_check_grace_period=Duration.seconds(300))
        for dependent in (self.daemon_service, self.web_service):  # first deploy: roles exist before they start
            dependent.node.add_dependency(self.code_service)

        self._load_balancer(config, vpc, private)
        self._permissions(names, storage)

    def _task(self, name: str, container: str, cpu: int, memory: int, role: iam.Role,
              environment: dict[str, str], command: list[str] | None, port: int | None = None,
              health: ecs.HealthCheck | None = None) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self, f"{name.title().replace('-', '')}Task", family=f"{self.config.prefix}-dagster-{name}",
            cpu=cpu, memory_limit_mib=memory, task_role=role, execution_role=self.execution_role,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        task.add_container(
            container, container_name=container, image=self.image, command=command, essential=True,
            environment={"AWS_REGION": Aws.REGION, "PIPELINE_ENV": self.config.env, **environment},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=self.log_group),
            port_mappings=[ecs.PortMapping(container_port=port)] if port else None, health_check=health)
        acknowledge(task, "AwsSolutions-ECS2",
                    "The environment holds resource names, endpoints and ports (the PIPELINE_*/DAGSTER_* "
                    "contract), never credentials: those are read from Secrets Manager or are IAM tokens")
        return task

    def _load_balancer(self, config: InfraConfig, vpc: ec2.IVpc, private: ec2.SubnetSelection) -> None:
        alb_sg = ec2.SecurityGroup(self, "UiSecurityGroup", vpc=vpc, allow_all_outbound=False,
                                   description="Internal ALB of the Dagster UI")
        alb_sg.add_ingress_rule(ec2.Peer.ipv4(config.dagster_ui_cidr or config.vpc_cidr), ec2.Port.tcp(80),
                                "Dagster UI from inside the VPC (VPN / SSM port forwarding)")
        logs_bucket = s3.Bucket(
            self, "UiAccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=s3.Bucket.from_bucket_name(
                self, "AccessLogsBucket", config.extra_bucket("access-logs", Aws.ACCOUNT_ID)),
            server_access_logs_prefix="dagster-ui-alb-logs/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.access_logs_expire_days))],
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY)
        acknowledge(logs_bucket, "Annotation::@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
                    "The access-log bucket lives in the Storage stack, whose policy already admits "
                    "logging.s3.amazonaws.com for every bucket of this account")
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "UiLoadBalancer", vpc=vpc, internet_facing=False, security_group=alb_sg, vpc_subnets=private,
            drop_invalid_header_fields=True, load_balancer_name=f"{config.prefix}-dagster")
        self.alb.log_access_logs(logs_bucket, prefix="dagster-ui")
        listener = self.alb.add_listener("Http", port=80, open=False)
        listener.add_targets("Webserver", port=UI_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
                             targets=[self.web_service], deregistration_delay=Duration.seconds(30),
                             health_check=elbv2.HealthCheck(path="/server_info", healthy_http_codes="200"))
        CfnOutput(self, "DagsterUiUrl", value=f"http://{self.alb.load_balancer_dns_name}",
                  description="Dagster UI (internal ALB: reach it from the VPC, a VPN or an SSM tunnel)")

    def _permissions(self, names, storage: StorageStack) -> None:
        arns, web, daemon, pipeline = self.arns, self.roles["webserver"], self.roles["daemon"], self.roles["pipeline"]
        tasks = self.stack_format("task", f"{self.config.cluster_name}/*")
        log_streams = self.stack_format("log-group", f"{self.log_group_name}:log-stream:*",
                                        service="logs", colon=True)
        for role in (web, daemon, pipeline):
            self.database.instance.grant_connect(role, DAGSTER_ROLE)  # rds-db:connect as `dagster` only
            allow(role, ["ecs:DescribeTaskDefinition"], ["*"],
                  why_wildcard="ecs:DescribeTaskDefinition has no resource-level permissions; EcsRunLauncher "
                               "calls it on start-up to check the run task definition")
        for role in (web, daemon):
            allow(role, ["ecs:DescribeTasks", "ecs:StopTask"], [tasks],
                  why_wildcard="Run task ids are created per run; access is limited to tasks of this "
                               "stack's Dagster cluster (run monitoring and terminate)")
            allow(role, ["logs:GetLogEvents"], [log_streams],
                  why_wildcard="Failed-run diagnostics read the run task's log stream, named per task, "
                               "within the Dagster log group only")
        allow(daemon, ["ecs:RunTask"], [self.run_task.task_definition_arn],
              conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}})
        allow(daemon, ["ecs:TagResource"], [tasks], conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
              why_wildcard="Tags are written on the run task as RunTask creates it (dagster/run_id), "
                           "restricted to the RunTask create action in this cluster")
        allow(daemon, ["ec2:DescribeNetworkInterfaces"], ["*"],
              why_wildcard="ec2:DescribeNetworkInterfaces has no resource-level permissions; the launcher "
                           "copies the daemon's subnets and security groups to each run")
        allow(daemon, ["iam:PassRole"], [pipeline.role_arn, self.execution_role.role_arn],
              conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})
        compute_logs = storage.dagster_bucket_name
        allow(web, perms.S3_LIST, [arns.bucket(compute_logs)])
        allow(web, perms.S3_READ, [arns.objects(compute_logs, "compute-logs/")],
              why_wildcard="The UI shows captured stdout/stderr, stored per run and step under compute-logs/")
        grant_pipeline_data(pipeline, arns, names, self.config, storage)

    def stack_format(self, resource: str, name: str, service: str = "ecs", colon: bool = False) -> str:
        return self.format_arn(service=service, resource=resource, resource_name=name,
                               arn_format=ArnFormat.COLON_RESOURCE_NAME if colon else ArnFormat.SLASH_RESOURCE_NAME)
