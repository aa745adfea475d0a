"""Dagster on ECS (one image, three services, EcsRunLauncher, internal UI) and the alarms/dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from aws_cdk.assertions import Match

from infra.config import REPO_ROOT
from infra.nag import flatten
from infra.stacks.orchestration import CODE_PORT, DAGSTER_ROLE, UI_PORT
from pipeline_defs.settings import RESOURCE_ENV

DAGSTER_DIR = REPO_ROOT / "infra" / "dagster"


def _containers(synth) -> dict[str, dict]:
    return {t["Properties"]["ContainerDefinitions"][0]["Name"]: t["Properties"]["ContainerDefinitions"][0]
            for t in synth.resources("orchestration", "AWS::ECS::TaskDefinition").values()}


def _env(container) -> dict:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def test_one_image_from_the_repo_dockerfile_serves_every_task(synth):
    assets = json.loads((synth.outdir / f"{synth.stacks['orchestration'].artifact_id}.assets.json").read_text())
    images = list(assets["dockerImages"].values())
    assert len(images) == 1
    source = images[0]["source"]
    assert source["dockerFile"] == "Dockerfile" and source["platform"] == "linux/amd64"
    staged = synth.outdir / source["directory"]
    assert (staged / "Dockerfile").is_file() and (staged / "infra" / "dagster" / "dagster.yaml").is_file()
    assert not (staged / ".venv").exists() and not (staged / "tests").exists()  # .dockerignore allow-list
    containers = _containers(synth)
    assert set(containers) == {"webserver", "daemon", "code-server", "run"}
    assert len({json.dumps(c["Image"], sort_keys=True) for c in containers.values()}) == 1


def test_services_commands_and_code_location(synth):
    containers = _containers(synth)
    code = " ".join(containers["code-server"]["Command"])
    assert "infra.dagster.bootstrap prepare" in code and f"--port {CODE_PORT}" in code
    assert "--module-name pipeline_defs.definitions" in code and "--location-name data_pipeline" in code
    assert "grpc-health-check" in " ".join(containers["code-server"]["HealthCheck"]["Command"])
    assert "dagster-webserver" in " ".join(containers["webserver"]["Command"])
    assert "dagster-daemon run" in " ".join(containers["daemon"]["Command"])
    workspace = yaml.safe_load((DAGSTER_DIR / "workspace.yaml").read_text())
    root = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["location_name"] == root["load_from"][0]["python_module"]["location_name"]
    services = {s["Properties"]["ServiceName"]: s["Properties"] for s in synth.resources("orchestration", "AWS::ECS::Service").values()}
    config = synth.config
    daemon = services[config.dagster_service("daemon")]["DeploymentConfiguration"]
    assert daemon["MaximumPercent"] == 100  # never two daemons
    assert services[config.dagster_service("code-server")]["ServiceRegistries"]
    assert services[config.dagster_service("webserver")]["LoadBalancers"][0]["ContainerPort"] == UI_PORT
    synth.template("orchestration").has_resource_properties("AWS::ECS::Cluster", {
        "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]})


def test_every_variable_the_dagster_files_read_is_set(synth):
    """dagster.yaml/workspace.yaml `{env: X}` references, all present on the tasks that load them."""
    referenced = set()
    for name in ("dagster.yaml", "workspace.yaml"):
        referenced |= set(re.findall(r"\{env: ([A-Z_]+)\}", (DAGSTER_DIR / name).read_text()))
    containers = _containers(synth)
    for name, container in containers.items():
        missing = referenced - set(_env(container))
        assert not missing, (name, missing)
    for name in ("code-server", "run"):  # the pipeline: every PIPELINE_* name of settings
        assert set(RESOURCE_ENV) <= set(_env(containers[name])), name
    assert _env(containers["daemon"])["DAGSTER_PG_USER"] == DAGSTER_ROLE
    assert not [c for c in containers.values() if c.get("Secrets")]  # no password in any task definition


def test_dagster_yaml_is_valid_instance_config(monkeypatch):
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import DagsterPostgresStorage

    config = yaml.safe_load((DAGSTER_DIR / "dagster.yaml").read_text())
    for var in re.findall(r"\{env: ([A-Z_]+)\}", (DAGSTER_DIR / "dagster.yaml").read_text()):
        monkeypatch.setenv(var, "5432" if var.endswith(("_PORT", "_RUNS")) else "x")
    checks = [(dagster_instance_config_schema(), config),
              (DagsterPostgresStorage.config_type(), config["storage"]["postgres"]),
              (EcsRunLauncher.config_type(), config["run_launcher"]["config"]),
              (S3ComputeLogManager.config_type(), config["compute_logs"]["config"]),
              (QueuedRunCoordinator.config_type(), config["run_coordinator"]["config"])]
    for schema, value in checks:
        result = process_config(resolve_to_config_type(schema), value)
        assert result.success, result.errors
    assert config["storage"]["postgres"]["auth_provider"] == {"aws_wif": {"region": {"env": "AWS_REGION"}}}
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "pipeline/load", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert config["run_retries"] == {"enabled": True, "max_retries": 2}


def test_ui_is_internal_and_only_reachable_from_the_vpc(synth):
    template = synth.template("orchestration")
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "Scheme": "internal", "LoadBalancerAttributes": Match.array_with([
            {"Key": "access_logs.s3.enabled", "Value": "true"}])})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        "HealthCheckPath": "/server_info", "Port": UI_PORT})
    template.has_resource_properties("AWS::EC2::SecurityGroup", {
        "GroupDescription": "Internal ALB of the Dagster UI",
        "SecurityGroupIngress": [Match.object_like({"CidrIp": synth.config.vpc_cidr, "FromPort": 80})]})
    assert "DagsterUiUrl" in synth.json("orchestration")["Outputs"]


def _role_statements(synth, role_prefix):
    return [s for p in synth.resources("orchestration", "AWS::IAM::Policy").values()
            if any(r["Ref"].startswith(role_prefix) for r in p["Properties"]["Roles"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_run_launcher_permissions_are_scoped(synth):
    daemon = _role_statements(synth, "DaemonRole")
    run_task = next(s for s in daemon if s["Action"] == "ecs:RunTask")
    assert run_task["Resource"] == {"Ref": next(k for k in synth.resources("orchestration", "AWS::ECS::TaskDefinition")
                                                if k.startswith("RunTask"))}
    assert "ecs:cluster" in run_task["Condition"]["ArnEquals"]
    pass_role = next(s for s in daemon if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    connects = [s for s in daemon if s["Action"] == "rds-db:connect"]
    assert len(connects) == 1 and flatten(connects[0]["Resource"]).endswith(f"/{DAGSTER_ROLE}")
    webserver = {a for s in _role_statements(synth, "WebserverRole") for a in
                 ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "ecs:RunTask" not in webserver and not any(a.startswith(("sqs:", "dynamodb:", "kinesis:")) for a in webserver)
    pipeline = {a for s in _role_statements(synth, "PipelineRole") for a in
                ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"sqs:ReceiveMessage", "sns:Publish", "events:PutEvents", "secretsmanager:GetSecretValue"} <= pipeline
    assert "ecs:RunTask" not in pipeline and "iam:PassRole" not in pipeline


def test_alarms_go_to_the_alerts_topic(synth):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("monitoring", "AWS::CloudWatch::Alarm").values()}
    prefix = synth.config.prefix
    for function in ("Ingest", "StreamProcessor", "Analytics"):
        for kind in ("Errors", "Throttles", "DurationP99"):
            assert f"{prefix}-{function}{kind}" in alarms
    for name in ("IteratorAge", "UploadsDlqDepth", "StreamFailuresDepth", "RdsCpu", "Api5xxRate", "StaleData",
                 "DagsterDaemonDown", "DagsterCodeServerDown"):
        assert f"{prefix}-{name}" in alarms
    topic = synth.config.names("").alerts_topic
    for name, alarm in alarms.items():
        assert flatten(alarm["AlarmActions"][0]).endswith(f":{topic}"), name
    stale = alarms[f"{prefix}-StaleData"]
    assert stale["TreatMissingData"] == "breaching" and stale["MetricName"] == "MatchedEvents"
    assert {"Name": "RuleName", "Value": f"{prefix}-partition-loaded"} in stale["Dimensions"]
    synth.template("monitoring").resource_count_is("AWS::CloudWatch::Dashboard", 1)
    synth.template("monitoring").has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"detail-type": ["PartitionLoaded"]}})


def test_every_log_group_has_retention(synth):
    groups = [g for _, t in synth.all_templates() for g in t["Resources"].values() if g["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) >= 8
    assert {g["Properties"].get("RetentionInDays") for g in groups} == {synth.config.log_retention_days}


def test_dockerfile_and_ignore_keep_the_image_to_the_project():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY infra/dagster ./infra/dagster" in dockerfile and "DAGSTER_HOME" in dockerfile
    ignore = Path(REPO_ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1:] and "!pipeline_defs/" in ignore and "!infra/dagster/" in ignore
