"""Stream and Analytics Lambdas, the Kinesis event source mapping, and the REST API in front of them."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from infra.bundling import BundlingError
from infra.config import InfraConfig, env_for
from infra.nag import flatten
from infra.stacks.api import ANALYTICS_ROUTES, INGEST_ROUTES, MAX_EVENTS_PER_REQUEST, STAGE, ApiStack
from infra.stacks.stream import StreamStack
from pipeline_defs.settings import RESOURCE_ENV

from .conftest import CONTEXT, make_source_root


def _functions(synth, stack):
    return {f["Properties"]["FunctionName"]: f["Properties"] for f in synth.resources(stack, "AWS::Lambda::Function").values()}


def test_kinesis_event_source_mapping_has_the_delivery_contract(synth):
    config = synth.config
    synth.template("stream").has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BatchSize": 100, "MaximumBatchingWindowInSeconds": 5, "ParallelizationFactor": 2,
        "BisectBatchOnFunctionError": True, "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumRetryAttempts": config.retry_attempts, "MaximumRecordAgeInSeconds": config.max_record_age_seconds,
        "StartingPosition": "TRIM_HORIZON",
        "EventSourceArn": {"Fn::Join": ["", Match.array_with([Match.string_like_regexp(
            f":stream/{config.names('').events_stream}$")])]},
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::Join": ["", Match.array_with([
            Match.string_like_regexp(f":{config.names('').stream_failures_queue}$")])]}}}})


def test_functions_get_names_through_the_settings_variables(synth):
    config, names = synth.config, synth.config.names("")
    functions = {**_functions(synth, "stream"), **_functions(synth, "analytics")}
    expected = {
        "ingest": env_for(names, "events_stream", "realtime_table", "market_table"),
        "stream_processor": {k: v for k, v in env_for(names, "realtime_table", "market_table", "seen_table").items()},
        "analytics": env_for(names, "cache_table", "state_table", "aggregates_table", "realtime_table"),
    }
    for function, env in expected.items():
        props = functions[config.function_name(function)]
        variables = props["Environment"]["Variables"]
        assert variables.items() >= env.items(), function
        knobs = {"PIPELINE_ENV", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
                 "PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS"}
        assert set(variables) - knobs <= set(RESOURCE_ENV)
        assert props["Runtime"] == "python3.14" and props["Handler"] == "handler.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
    analytics = functions[config.function_name("analytics")]
    assert analytics["Environment"]["Variables"]["PIPELINE_DB_SECRET_ID"] == config.readonly_secret_id
    assert "VpcConfig" in analytics and analytics["MemorySize"] == config.analytics_memory_mb
    assert analytics["Environment"]["Variables"]["PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS"] == str(
        config.analytics_statement_timeout_ms)
    synth.template("analytics").has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"detail-type": ["PartitionLoaded", "AnalyticsRefreshed"]}, "EventBusName": config.names("").event_bus,
        "Targets": [Match.object_like({"RetryPolicy": Match.any_value()})]})
    for group in synth.resources("stream", "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == config.log_retention_days


def _statements(synth, stack, role_prefix):
    policies = synth.resources(stack, "AWS::IAM::Policy").values()
    return [s for p in policies if p["Properties"]["Roles"][0]["Ref"].startswith(role_prefix)
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_lambda_roles_are_least_privilege(synth):
    ingest = {a for s in _statements(synth, "stream", "IngestRole") for a in
              ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"kinesis:PutRecords", "kinesis:PutRecord"} <= ingest
    assert not any(a.startswith(("s3:", "sqs:")) or a in ("dynamodb:PutItem", "dynamodb:DeleteItem") for a in ingest)
    processor = _statements(synth, "stream", "ProcessorRole")
    s3 = [s for s in processor if any(a.startswith("s3:") for a in s["Action"])]
    assert len(s3) == 1 and "s3:DeleteObject" not in s3[0]["Action"]
    assert sorted(flatten(r).rsplit("/", 2)[-2] for r in s3[0]["Resource"]) == ["market", "web"]
    analytics = _statements(synth, "analytics", "AnalyticsRole")
    writes = {a for s in analytics for a in s["Action"] if a in ("s3:PutObject", "dynamodb:PutItem")}
    assert writes == {"s3:PutObject", "dynamodb:PutItem"}  # results bucket + cache table only
    secret = [s for s in analytics if "secretsmanager:GetSecretValue" in s["Action"]]
    assert len(secret) == 1 and synth.config.readonly_secret_id in str(secret[0]["Resource"])


def test_api_routes_are_authorised_validated_throttled_and_logged(synth):
    template = synth.template("api")
    methods = synth.resources("api", "AWS::ApiGateway::Method").values()
    assert len(methods) == len(INGEST_ROUTES) + len(ANALYTICS_ROUTES)
    for method in methods:
        props = method["Properties"]
        assert props["AuthorizationType"] == "AWS_IAM"
        assert "RequestValidatorId" in props
    posts = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] == "POST"]
    assert all("application/json" in p["RequestModels"] for p in posts) and len(posts) == 3
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {
        "ValidateRequestBody": True, "ValidateRequestParameters": True})
    template.has_resource_properties("AWS::ApiGateway::Model", {"Schema": Match.object_like({
        "oneOf": Match.array_with([Match.object_like({"maxItems": MAX_EVENTS_PER_REQUEST})])})})
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": STAGE, "TracingEnabled": True,
        "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
        "MethodSettings": [Match.object_like({"ThrottlingRateLimit": synth.config.api_rate_limit,
                                              "ThrottlingBurstLimit": synth.config.api_burst_limit,
                                              "LoggingLevel": "ERROR", "DataTraceEnabled": False})]})
    assert "ApiUrl" in synth.json("api")["Outputs"]


def test_api_key_mode_uses_a_usage_plan(tmp_path):
    """apiAuth=api_key, synthesised alone against imported functions (no bundling needed)."""
    app = cdk.App(context={**CONTEXT, "apiAuth": "api_key"}, outdir=str(tmp_path))
    config = InfraConfig.from_context(app.node.try_get_context)
    imports = cdk.Stack(app, "Functions")
    fn = lambda_.Function.from_function_arn(imports, "Fn", "arn:aws:lambda:eu-west-1:123456789012:function:x")
    stack = ApiStack(app, "Api", config=config, ingest=fn, analytics=fn)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ApiGateway::Method", {"ApiKeyRequired": True, "AuthorizationType": "NONE"})
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 1)
    template.resource_count_is("AWS::ApiGateway::ApiKey", 1)


def test_missing_function_folder_fails_naming_it(tmp_path):
    root = make_source_root(tmp_path / "src", functions=("ingest",))  # no stream_processor
    app = cdk.App(context={**CONTEXT, "sourceRoot": str(root)}, outdir=str(tmp_path / "out"))
    with pytest.raises(BundlingError, match=r"infra/functions/stream_processor/handler\.py not found"):
        StreamStack(app, "Stream", config=InfraConfig.from_context(app.node.try_get_context))
