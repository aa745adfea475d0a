"""The schedules: on by default; the hourly stream-archive load runs only when the archive has objects
no load has recorded (moto for S3 and the processing state)."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
from dagster import AssetKey, DefaultScheduleStatus, RunRequest, SkipReason, build_schedule_context

from pipeline_defs.resources import build_resources
from pipeline_defs.state import FAILED, LOADED, FileState, put_states
from sensors.jobs import daily_report_job
from sensors.schedules import daily_report_schedule, schedules, stream_archive_schedule

TICK = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)
WEB_KEY = "web/events/dt=2026-11-20/shardId-000000000000-1-5.jsonl.gz"
TICK_KEY = "market/ticks/dt=2026-11-20/shardId-000000000000-6-9.jsonl.gz"


def test_every_schedule_is_on_by_default():
    assert {s.name: s.default_status for s in schedules} == {
        "stream_archive_schedule": DefaultScheduleStatus.RUNNING,
        "daily_report_schedule": DefaultScheduleStatus.RUNNING}


def test_daily_report_schedule_targets_the_previous_day():
    tick = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    request = daily_report_schedule(build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-11-20" and request.run_key == "daily-report-2026-11-20"
    assert daily_report_schedule.cron_schedule == "0 8 * * *"
    assert daily_report_schedule.execution_timezone == "UTC"
    assert daily_report_schedule.job_name == daily_report_job.name == "daily_report"


def evaluate(settings):
    resources = build_resources(settings)
    context = build_schedule_context(scheduled_execution_time=TICK,
                                     resources={"s3": resources["s3"], "dynamodb": resources["dynamodb"]})
    return stream_archive_schedule(context)


def etag(s3, bucket: str, key: str) -> str:
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def test_stream_archive_load_runs_only_for_what_is_not_loaded(provisioned):
    names = provisioned.names
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")

    skipped = evaluate(provisioned)
    assert isinstance(skipped, SkipReason) and "nothing new" in skipped.skip_message

    s3.put_object(Bucket=names.raw_bucket, Key=WEB_KEY, Body=b"x")
    s3.put_object(Bucket=names.raw_bucket, Key=TICK_KEY, Body=b"y")
    s3.put_object(Bucket=names.raw_bucket, Key="web/events/dt=2026-11-19/shardId-000000000000-0-0.jsonl.gz", Body=b"z")
    request = evaluate(provisioned)
    assert isinstance(request, RunRequest) and request.partition_key == "2026-11-20"
    assert AssetKey(["warehouse", "web_events"]) in request.asset_selection
    assert AssetKey(["warehouse", "market_ticks"]) in request.asset_selection

    # web events loaded; the ticks' load failed: only market_ticks is loaded again
    put_states(ddb, names.state_table, [
        FileState(key=WEB_KEY, etag=etag(s3, names.raw_bucket, WEB_KEY), dataset="web_events",
                  partition="2026-11-20", status=LOADED),
        FileState(key=TICK_KEY, etag=etag(s3, names.raw_bucket, TICK_KEY), dataset="market_ticks",
                  partition="2026-11-20", status=FAILED)])
    request = evaluate(provisioned)
    assert isinstance(request, RunRequest)
    assert set(request.asset_selection) == {AssetKey(["raw", "market_ticks"]), AssetKey(["validated", "market_ticks"]),
                                            AssetKey(["warehouse", "market_ticks"])}

    put_states(ddb, names.state_table, [FileState(key=TICK_KEY, etag=etag(s3, names.raw_bucket, TICK_KEY),
                                                  dataset="market_ticks", partition="2026-11-20", status=LOADED)])
    assert isinstance(evaluate(provisioned), SkipReason)

    s3.put_object(Bucket=names.raw_bucket, Key=WEB_KEY, Body=b"rewritten")  # a new etag: load again
    request = evaluate(provisioned)
    assert isinstance(request, RunRequest) and AssetKey(["warehouse", "web_events"]) in request.asset_selection
