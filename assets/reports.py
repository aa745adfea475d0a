"""``reports/daily_report``: the day's HTML report and JSON twin in S3, announced on SNS and EventBridge.

Reads only the DynamoDB aggregates (and, read-only, the hot path's real-time counts). The asset's
page in the UI shows the KPIs as markdown and links to the HTML. Logic: :mod:`pipeline_defs.report`.
First published by the 08:00 schedule (sensors/schedules.py); a published day whose aggregates change
is published again by automation (sensors/automation.py) as a new revision.
"""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Backoff,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from dagster_aws.s3 import S3Resource

from assets.aggregates import aggregate_key
from pipeline_defs.aws import client
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.report import publish_daily_report
from pipeline_defs.report.figures import REPORTED
from pipeline_defs.settings import get_settings
from resources.aws import DynamoDBResource, EventBridgeResource, SNSResource
from sensors.automation import revise_published

DAILY_REPORT = AssetKey(["reports", "daily_report"])


@asset(
    key=DAILY_REPORT,
    deps=[aggregate_key(name) for name in REPORTED],
    partitions_def=daily_partitions,
    group_name="reports",
    kinds={"s3", "html"},
    description="Self-contained HTML report + JSON twin at s3://<reports bucket>/reports/YYYY-MM-DD/, "
                "history in DynamoDB (pk=report, sk=<date>), SNS notification, EventBridge ReportPublished.",
    retry_policy=RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL),
    automation_condition=revise_published(),
)
def daily_report(context: AssetExecutionContext, s3: S3Resource, dynamodb: DynamoDBResource, sns: SNSResource,
                 eventbridge: EventBridgeResource) -> MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    settings = get_settings()
    published = publish_daily_report(
        day, settings, s3=s3.get_client(), ddb=dynamodb.get_client(), sns=sns.get_client(),
        events=eventbridge.get_client(), account_id=client("sts", settings).get_caller_identity()["Account"],
        run_id=context.run.run_id, log=context.log.warning)
    figures = published.figures
    context.log.info(f"report {day} published to {published.html_uri} (revision {published.revision})")
    metadata = {
        "preview": MetadataValue.md(published.markdown),
        "html": MetadataValue.path(published.html_uri),
        "json": MetadataValue.path(published.json_uri),
        "open": MetadataValue.url(published.link),
        "has_data": figures["has_data"],
        "files_processed": figures["files"]["processed"],
        "files_failed": figures["files"]["failed"],
        "stream_vs_batch": MetadataValue.text("no real-time data" if figures["stream"] is None else
                                              "match" if figures["stream"]["matches"] else "differs"),
        "revision": published.revision,
        "html_bytes": published.html_bytes,
    }
    if figures["quality_score"] is not None:
        metadata["quality_score"] = MetadataValue.float(float(figures["quality_score"]))
    return MaterializeResult(metadata=metadata)


report_assets = [daily_report]
