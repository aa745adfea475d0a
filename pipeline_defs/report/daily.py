"""Build and publish one day's report: figures → HTML + JSON → S3 → history → SNS → EventBridge.

Plain function over boto3 clients, so tests and the CLI can run it without Dagster. The order is
deliberate: the files exist before the history points at them, and subscribers hear about it last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable

from pipeline_defs.aws import sns_topic_arn
from pipeline_defs.report.figures import build_figures, dynamodb_reader
from pipeline_defs.report.publish import (
    browser_url,
    kpi_summary,
    markdown_preview,
    notify,
    publish_event,
    put_report,
    record_history,
    report_keys,
    s3_uri,
    summary,
)
from pipeline_defs.report.realtime import stream_counts
from pipeline_defs.report.render import render_html, render_json
from pipeline_defs.settings import Settings


@dataclass(frozen=True)
class Published:
    figures: dict
    html_key: str
    json_key: str
    html_uri: str
    json_uri: str
    link: str
    revision: int
    message_id: str
    markdown: str
    html_bytes: int


def publish_daily_report(day: date, settings: Settings, *, s3, ddb, sns, events, account_id: str, run_id: str,
                         now: datetime | None = None, log: Callable[[str], None] | None = None) -> Published:
    """``account_id`` locates the SNS topic (STS GetCallerIdentity; the role needs no permission for it)."""
    names = settings.names
    figures = build_figures(dynamodb_reader(ddb, names.aggregates_table), day,
                            stream_counts(ddb, names.realtime_table, day, log))
    html_key, json_key = report_keys(day)
    html_uri, json_uri = s3_uri(names.reports_bucket, html_key), s3_uri(names.reports_bucket, json_key)
    generated_at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    meta = {"generated_at": generated_at, "run_id": run_id, "bucket": names.reports_bucket,
            "html_key": html_key, "json_key": json_key, "html_uri": html_uri, "json_uri": json_uri}
    html = render_html(figures, meta)
    put_report(s3, names.reports_bucket, html_key, html, json_key, render_json(figures, meta))
    kpis = kpi_summary(figures)
    revision = record_history(ddb, names.state_table, day.isoformat(), {
        "date": day.isoformat(), "bucket": names.reports_bucket, "html_key": html_key, "json_key": json_key,
        "kpis": kpis, "has_data": figures["has_data"], "files_processed": figures["files"]["processed"],
        "files_failed": figures["files"]["failed"], "quality_score": figures["quality_score"],
        "run_id": run_id, "generated_at": generated_at})
    subject, body = summary(figures, html_uri, json_uri, revision)
    message_id = notify(sns, sns_topic_arn(sns, names.reports_topic, account_id), subject, body)
    publish_event(events, names.event_bus, json.dumps({
        "date": day.isoformat(), "bucket": names.reports_bucket, "html_key": html_key, "json_key": json_key,
        "has_data": figures["has_data"], "kpis": kpis, "revision": revision, "revised": revision > 1,
        "run_id": run_id}))
    link = browser_url(names.reports_bucket, html_key, settings.aws_endpoint_url, settings.aws_region, s3)
    return Published(figures=figures, html_key=html_key, json_key=json_key, html_uri=html_uri, json_uri=json_uri,
                     link=link, revision=revision, message_id=message_id,
                     markdown=markdown_preview(figures, html_uri, json_uri, link), html_bytes=len(html.encode()))
