"""The Dagster code location: every asset, check, job, sensor, schedule and resource of data-pipeline.

Loaded by `dagster dev -w workspace.yaml`, `dg dev` ([tool.dg] in pyproject.toml) and the
ECS code server on AWS. Only assembles: assets live in assets/, what starts runs in sensors/.
"""

from dagster import Definitions, in_process_executor, load_from_defs_folder

from assets.aggregates import aggregate_assets
from assets.analytics import analytics_assets
from assets.freshness import warehouse_freshness
from assets.raw import raw_assets
from assets.reports import report_assets
from assets.stream import (close_stream_day_job, close_stream_day_schedule, realtime_matches_batch,
                           stream_assets, stream_observation_sensor)
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from pipeline_defs.jobs import load_jobs
from pipeline_defs.resources import build_resources
from pipeline_defs.settings import PROJECT_ROOT, get_settings
from sensors.alerts import run_failure_alert_sensor
from sensors.automation import automation_condition_sensor
from sensors.check_alerts import check_failure_alert_sensor
from sensors.freshness import warehouse_freshness_job, warehouse_freshness_schedule
from sensors.jobs import daily_report_job, stream_archive_job
from sensors.recovery import load_recovery_sensor
from sensors.s3_upload import s3_upload_sensor
from sensors.schedules import schedules
from sensors.sqs_upload import sqs_upload_sensor


def _hand_written() -> Definitions:
    return Definitions(
        assets=[*raw_assets, *validated_assets, *warehouse_assets, *aggregate_assets, *report_assets,
                *stream_assets, *analytics_assets],
        asset_checks=[realtime_matches_batch, warehouse_freshness],
        jobs=[*load_jobs, stream_archive_job, daily_report_job, close_stream_day_job, warehouse_freshness_job],
        sensors=[sqs_upload_sensor, s3_upload_sensor, load_recovery_sensor, run_failure_alert_sensor,
                 stream_observation_sensor, check_failure_alert_sensor, automation_condition_sensor],
        schedules=[*schedules, close_stream_day_schedule, warehouse_freshness_schedule],
        resources=build_resources(get_settings()),
        # steps run inside their run's process: concurrency comes from concurrent runs (one per
        # dataset-partition), and a 2-core laptop or a Fargate task does not pay a process per step
        executor=in_process_executor,
    )


# components scaffolded by `dg scaffold defs` into pipeline_defs/defs/
defs = Definitions.merge(_hand_written(), load_from_defs_folder(path_within_project=PROJECT_ROOT))
