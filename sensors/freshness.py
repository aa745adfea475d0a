"""``warehouse_freshness_schedule``: runs the warehouse freshness checks (``assets/freshness.py``)
five minutes after each daily deadline, on by default; a failure is alerted by ``sensors/check_alerts.py``."""

from dagster import (AssetSelection, DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, define_asset_job,
                     schedule)

from assets.freshness import DEADLINE_HOUR_UTC, warehouse_freshness

warehouse_freshness_job = define_asset_job(
    name="check_warehouse_freshness",
    selection=AssetSelection.checks(warehouse_freshness),
    description="is yesterday's partition of every warehouse table loaded? (checks only, nothing materialised)",
)


@schedule(job=warehouse_freshness_job, cron_schedule=f"5 {DEADLINE_HOUR_UTC} * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description=f"{DEADLINE_HOUR_UTC:02d}:05 UTC: check that yesterday's warehouse partitions are loaded")
def warehouse_freshness_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"warehouse-freshness-{context.scheduled_execution_time.date().isoformat()}")
