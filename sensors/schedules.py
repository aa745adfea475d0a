"""Schedules: what starts on a clock. Uploads are event-driven (the upload sensors); what changes after
a load is declarative automation (sensors/automation.py). Both schedules are on by default.

* ``stream_archive_schedule`` — hourly: loads today's stream archive (web events, market ticks) when
  the archive has objects no load has recorded (pipeline_defs/stream_backlog.py), else skips; the
  market aggregates, 5-minute bars included, follow each load by automation.
* ``daily_report_schedule`` — 08:00 UTC: the previous day's aggregates and its first report.
"""

import hashlib
from datetime import timedelta

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule
from dagster_aws.s3 import S3Resource

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.jobs import dataset_keys
from pipeline_defs.settings import get_settings
from pipeline_defs.stream_backlog import pending_archive_files
from resources.aws import DynamoDBResource
from sensors.jobs import daily_report_job, stream_archive_job


@schedule(job=stream_archive_job, cron_schedule="5 * * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description="hourly: load today's web events and market ticks from the stream archive, "
                      "if it has objects not loaded yet")
def stream_archive_schedule(context: ScheduleEvaluationContext, s3: S3Resource,
                            dynamodb: DynamoDBResource) -> RunRequest | SkipReason:
    names = get_settings().names
    day = context.scheduled_execution_time.date()
    pending = pending_archive_files(s3.get_client(), dynamodb.get_client(), names.raw_bucket, names.state_table, day)
    if not pending:
        return SkipReason(f"nothing new in the stream archive for {day}")
    digest = hashlib.sha256("\n".join(k for keys in pending.values() for k in keys).encode()).hexdigest()[:12]
    context.log.info(f"stream archive {day}: " + ", ".join(f"{len(k)} new {d} object(s)" for d, k in pending.items()))
    return RunRequest(
        run_key=f"stream-archive-{context.scheduled_execution_time.isoformat()}-{digest}",
        partition_key=day.isoformat(),
        asset_selection=[key for dataset in sorted(pending) for key in dataset_keys(CONTRACTS[dataset])],
    )


@schedule(job=daily_report_job, cron_schedule="0 8 * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description="08:00 UTC: aggregates and the daily report for the previous day")
def daily_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    return RunRequest(run_key=f"daily-report-{day}", partition_key=day)


schedules = [stream_archive_schedule, daily_report_schedule]
