"""cdk-nag gate (a finding fails synthesis, an acknowledgment with a reason lets it pass), the IAM
helper's rules, and the context knobs."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.config import ConfigError, InfraConfig, env_for, knobs
from infra.iam import Arns, allow
from infra.nag import acknowledge, apply_checks, flatten, report_failures, resource_finding


def _bad_bucket_app(tmp_path, acknowledged: bool) -> cdk.App:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    bucket = s3.Bucket(stack, "Open")  # no access logs, no TLS-only policy
    if acknowledged:
        acknowledge(bucket, "AwsSolutions-S1", "Test bucket: access logging deliberately off for this check")
        acknowledge(bucket, "AwsSolutions-S10", "Test bucket: TLS-only policy deliberately off for this check")
    apply_checks(app)
    return app


def test_an_unacknowledged_finding_fails_synthesis(tmp_path):
    app = _bad_bucket_app(tmp_path, acknowledged=False)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    summary = report_failures(tmp_path)
    assert "AwsSolutions-S1: Bad/Open/Resource" in summary and "AwsSolutions-S10" in summary


def test_acknowledged_findings_pass_and_reasons_must_be_specific(tmp_path):
    _bad_bucket_app(tmp_path, acknowledged=True).synth()
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(cdk.Stack(cdk.App(), "S"), "AwsSolutions-S1", "not needed")


def test_allow_refuses_wildcard_actions_and_unexplained_wildcard_resources():
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(region="eu-west-1"))
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    arns = Arns(stack)
    with pytest.raises(ValueError, match="wildcard actions"):
        allow(role, ["s3:Get*"], [arns.bucket("b")])
    with pytest.raises(ValueError, match="needs why_wildcard"):
        allow(role, ["s3:GetObject"], [arns.objects("b")])
    allow(role, ["s3:GetObject"], [arns.objects("b", "in/")], why_wildcard="object keys under in/ are chosen at run time by the writer")
    assert resource_finding(role, arns.objects("b", "in/")) == "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::b/in/*]"
    assert "*" not in flatten(stack.resolve(arns.secret("pipeline/x")))  # '?' suffix, not '*'


def test_flatten_matches_cdk_nag():
    assert flatten({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/*"]]}) == "arn:<AWS::Partition>:s3:::b/*"
    assert flatten({"Fn::GetAtt": ["Logs", "Arn"]}) == "<Logs.Arn>"
    assert flatten({"Fn::Sub": "arn:${AWS::Partition}:x"}) == "arn:<AWS::Partition>:x"
    assert flatten({"Fn::ImportValue": "stack:Export"}) == "stack:Export"


def test_context_knobs_have_defaults_and_accept_cli_strings():
    defaults = knobs()
    for key in ("env", "shardCount", "lambdaMemoryMb", "batchSize", "batchWindowSeconds", "dbInstanceClass",
                "logRetentionDays", "alertEmail"):
        assert key in defaults, key
    assert (defaults["batchSize"], defaults["batchWindowSeconds"], defaults["parallelizationFactor"]) == (100, 5, 2)
    config = InfraConfig.from_mapping({"env": "prod", "shardCount": "4", "dbMultiAz": "false",
                                       "durationP99AlarmRatio": "0.5", "alertEmail": "ops@example.com"})
    assert (config.shard_count, config.multi_az, config.duration_p99_alarm_ratio) == (4, False, 0.5)
    assert InfraConfig.from_mapping({"env": "prod"}).multi_az is True
    assert InfraConfig().multi_az is False


@pytest.mark.parametrize("context, message", [
    ({"env": "Prod_1"}, "env="), ({"shardCount": "four"}, "shardCount"), ({"logRetentionDays": 10}, "CloudWatch"),
    ({"apiAuth": "cognito"}, "apiAuth"), ({"batchSize": 0}, "batchSize"), ({"staleAfterHours": 48}, "staleAfterHours"),
])
def test_bad_context_is_rejected_naming_the_knob(context, message):
    with pytest.raises(ConfigError, match=message):
        InfraConfig.from_mapping(context)


def test_env_for_uses_the_settings_spelling():
    names = InfraConfig(env="qa").names("123")
    assert env_for(names, "raw_bucket", "db_secret_id") == {
        "PIPELINE_RAW_BUCKET": "pipeline-qa-raw-123", "PIPELINE_DB_SECRET_ID": "pipeline-qa/database"}
    with pytest.raises(KeyError):
        env_for(names, "nonexistent")


def test_every_knob_is_documented_in_the_infra_readme():
    from infra.config import REPO_ROOT

    readme = (REPO_ROOT / "infra" / "README.md").read_text()
    undocumented = [k for k in knobs() if k not in readme and k.replace("Cpu", "").replace("MemoryMb", "") not in readme]
    assert undocumented == []
