"""Schedules. Uploads are event-driven (sensors); what arrives in bulk on a clock is scheduled."""

from dagster import RunRequest, ScheduleEvaluationContext, define_asset_job, schedule

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.jobs import dataset_selection

# The stream Lambda archives batches under web/events/ and market/ticks/ (no run per file):
# the day's partition is (re)loaded every hour instead. Re-loading is idempotent.
stream_archive_job = define_asset_job(
    name="load_stream_archive",
    selection=dataset_selection(CONTRACTS["web_events"]) | dataset_selection(CONTRACTS["market_ticks"]),
    description="web_events and market_ticks for one day, including the hot path's archive",
)


@schedule(job=stream_archive_job, cron_schedule="5 * * * *", execution_timezone="UTC",
          description="hourly: load today's web events and market ticks (the stream archive)")
def stream_archive_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=f"stream-archive-{context.scheduled_execution_time.isoformat()}", partition_key=day)
