"""Schedules. Uploads are event-driven (sensors); what arrives in bulk on a clock is scheduled."""

from datetime import timedelta

from dagster import (AssetKey, AssetSelection, DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext,
                     define_asset_job, schedule)

from pipeline_defs.aggregates import AGGREGATES, INTRADAY
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


# --- aggregates and the daily report (see pipeline_defs/aggregates, pipeline_defs/report) ---
daily_report_job = define_asset_job(
    name="daily_report",
    selection=AssetSelection.assets(*[AssetKey(["aggregates", n]) for n in AGGREGATES],
                                    AssetKey(["reports", "daily_report"])),
    description="every aggregate of one day, then the daily report (HTML + JSON to S3, history, SNS, EventBridge)",
)

market_intraday_job = define_asset_job(
    name="market_intraday_aggregates",
    selection=AssetSelection.assets(*[AssetKey(["aggregates", n]) for n in INTRADAY]),
    description="today's market OHLC per symbol and per 5-minute bucket",
)


@schedule(job=daily_report_job, cron_schedule="0 8 * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description="08:00 UTC: aggregates and the daily report for the previous day")
def daily_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    return RunRequest(run_key=f"daily-report-{day}", partition_key=day)


@schedule(job=market_intraday_job, cron_schedule="*/5 * * * *", execution_timezone="UTC",
          description="every 5 minutes: recompute today's market aggregates (5-minute buckets and the day so far)")
def market_intraday_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    tick = context.scheduled_execution_time
    return RunRequest(run_key=f"market-intraday-{tick.isoformat()}", partition_key=tick.date().isoformat())
