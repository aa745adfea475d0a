"""Api: one REST API (PIPELINE_API_URL) in front of the ingest and analytics Lambdas.

Every method is authorised (SigV4/IAM by default, ``-c apiAuth=api_key`` for an API key and usage
plan), request bodies and required parameters are validated against models before a Lambda runs,
the stage is throttled and writes JSON access logs. The shapes checked here are deliberately
coarse (an object or a list of at most 500): per-record validation and its 207-style answers
belong to the handlers and the shared contracts.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import InfraConfig, retention_days
from infra.nag import acknowledge

MAX_EVENTS_PER_REQUEST = 500  # Kinesis PutRecords' limit, also enforced by the ingest handler
STAGE = "v1"

_OBJECT = apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT)
_BATCH = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4, title="EventsOrTicks",
    description="One JSON object, or a list of 1..500 objects",
    one_of=[_OBJECT, apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1,
                                      max_items=MAX_EVENTS_PER_REQUEST, items=_OBJECT)])
_QUERY = apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, title="AnalyticsQuery",
                          type=apigw.JsonSchemaType.OBJECT)

# (method, path, function, required query/path parameters, body model) - the API's whole surface.
INGEST_ROUTES = (
    ("POST", "events", {}, "batch"),
    ("POST", "ingest", {}, "batch"),
    ("GET", "metrics/realtime", {"method.request.querystring.date": False}, None),
)
ANALYTICS_ROUTES = (
    ("GET", "health", {}, None),
    ("GET", "analytics", {"method.request.querystring.operation": True}, None),
    ("POST", "analytics", {"method.request.querystring.operation": False}, "query"),
    ("GET", "download/{key}", {"method.request.path.key": True}, None),
)


class ApiStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, ingest: lambda_.IFunction,
                 analytics: lambda_.IFunction, **kwargs):
        super().__init__(scope, id, **kwargs)
        access_logs = logs.LogGroup(
            self, "AccessLogs", log_group_name=f"/pipeline/{config.env}/api-access",
            retention=retention_days(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY)
        iam_auth = config.api_auth == "iam"
        self.api = apigw.RestApi(
            self, "Api", rest_api_name=config.api_name, description="data-pipeline hot path and analytics",
            endpoint_types=[apigw.EndpointType.REGIONAL], cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,  # account-wide setting
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
                api_key_required=not iam_auth),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE, throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit, logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False, metrics_enabled=True, tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True)))
        self.validator = self.api.add_request_validator(
            "Validator", request_validator_name="body-and-parameters",
            validate_request_body=True, validate_request_parameters=True)
        self.models = {
            "batch": self.api.add_model("BatchModel", content_type="application/json", model_name="EventsOrTicks",
                                        schema=_BATCH),
            "query": self.api.add_model("QueryModel", content_type="application/json", model_name="AnalyticsQuery",
                                        schema=_QUERY),
        }
        self.api.add_gateway_response(  # the analytics API's error shape, also for gateway rejections
            "BadBody", type=apigw.ResponseType.BAD_REQUEST_BODY, status_code="400",
            templates={"application/json": '{"error": "invalid_request", "message": '
                                           '"$context.error.validationErrorString"}'})
        self.api.add_gateway_response(
            "BadParameters", type=apigw.ResponseType.BAD_REQUEST_PARAMETERS, status_code="400",
            templates={"application/json": '{"error": "invalid_request", "message": "$context.error.message"}'})
        for routes, function in ((INGEST_ROUTES, ingest), (ANALYTICS_ROUTES, analytics)):
            integration = apigw.LambdaIntegration(function, proxy=True)
            for method, path, parameters, model in routes:
                self.api.root.resource_for_path(path).add_method(
                    method, integration, request_validator=self.validator,
                    request_parameters=parameters or None,
                    request_models={"application/json": self.models[model]} if model else None)

        if not iam_auth:
            key = self.api.add_api_key("ApiKey", api_key_name=f"{config.prefix}-key")
            plan = self.api.add_usage_plan("UsagePlan", name=f"{config.prefix}-plan", throttle=apigw.ThrottleSettings(
                rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit))
            plan.add_api_key(key)
            plan.add_api_stage(stage=self.api.deployment_stage)
            CfnOutput(self, "ApiKeyId", value=key.key_id,
                      description="aws apigateway get-api-key --include-value --api-key <id>")
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(self.api, rule, "apiAuth=api_key was chosen explicitly: callers present an "
                            "API key bound to a throttled usage plan instead of IAM credentials")
        else:
            acknowledge(self.api, "AwsSolutions-COG4",
                        "Methods use IAM (SigV4) authorisation: callers are AWS principals (services, "
                        "Dagster, operators), so a Cognito user pool would add nothing")
        acknowledge(self.api, "AwsSolutions-APIG3",
                    "No WAF: every method requires IAM or API-key authorisation, bodies are validated "
                    "and the stage is throttled; attach a web ACL per account policy if required")
        acknowledge(self.api, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                    "API Gateway's account-level CloudWatch role needs this AWS-managed policy to write "
                    "execution logs; it is assumed only by apigateway.amazonaws.com")
        CfnOutput(self, "ApiUrl", value=self.api.url, description="PIPELINE_API_URL")
