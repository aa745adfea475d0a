"""Warehouse freshness: a missing yesterday fails its check, and the check-failure sensor alerts on the alerts
topic (its local inbox queue) once. A real Dagster instance, the real check job, moto SNS/SQS."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest
from dagster import AssetMaterialization, DagsterInstance, Definitions, build_schedule_context, build_sensor_context

from assets.freshness import WAREHOUSE_KEYS, due_partition, warehouse_freshness
from assets.warehouse import warehouse_assets
from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.resources import build_resources
from sensors.check_alerts import check_failure_alert_sensor
from sensors.freshness import warehouse_freshness_job, warehouse_freshness_schedule

ORDERS = "warehouse/orders"


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def run_checks(settings, instance) -> dict[str, object]:
    defs = Definitions(assets=warehouse_assets, asset_checks=[warehouse_freshness], jobs=[warehouse_freshness_job],
                       resources=build_resources(settings))
    result = defs.resolve_job_def(warehouse_freshness_job.name).execute_in_process(instance=instance)
    assert result.success  # a failed freshness check does not fail its run: hence the check-failure sensor
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def tick(settings, instance, cursor=None) -> str | None:
    resources = {"sns": build_resources(settings)["sns"]}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        check_failure_alert_sensor(context)
        return context.cursor


def alerts(settings) -> list[dict]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=inbox_queue_name(settings.names.alerts_topic))["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def loaded(instance, day: date, keys) -> None:
    for key in keys:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=key, partition=day.isoformat()))


def test_the_due_partition_is_yesterday_once_the_deadline_has_passed():
    assert due_partition(datetime(2026, 11, 21, 6, 59, tzinfo=timezone.utc)) == (
        date(2026, 11, 19), datetime(2026, 11, 20, 7, tzinfo=timezone.utc))
    assert due_partition(datetime(2026, 11, 21, 7, 0, tzinfo=timezone.utc)) == (
        date(2026, 11, 20), datetime(2026, 11, 21, 7, tzinfo=timezone.utc))


def test_a_missing_day_fails_its_check_and_alerts_once(provisioned, instance):
    day, _ = due_partition(datetime.now(timezone.utc))
    loaded(instance, day, [key for key in WAREHOUSE_KEYS if key.to_user_string() != ORDERS])

    checks = run_checks(provisioned, instance)
    assert {name for name, e in checks.items() if not e.passed} == {ORDERS}
    assert checks[ORDERS].metadata["partition"].value == day.isoformat()
    assert checks["warehouse/customers"].description.startswith(f"partition {day} loaded")
    cursor = tick(provisioned, instance)

    (alert,) = alerts(provisioned)
    assert alert["Subject"] == f"data-pipeline: 1 check(s) failed: {ORDERS} freshness"
    assert f"Check:     {ORDERS} freshness" in alert["Message"]
    assert f"Reason:    partition {day} is not loaded; it was due by" in alert["Message"]
    assert f"deadline:  {day + timedelta(days=1)} 07:00 UTC" in alert["Message"]
    assert tick(provisioned, instance, cursor) == cursor and alerts(provisioned) == []  # alerted once
    run_checks(provisioned, instance)  # failing again on the same day (as in every load run of a backfill)
    cursor = tick(provisioned, instance, cursor)
    assert alerts(provisioned) == []

    loaded(instance, day, [key for key in WAREHOUSE_KEYS if key.to_user_string() == ORDERS])  # the late load
    assert all(e.passed for e in run_checks(provisioned, instance).values())
    tick(provisioned, instance, cursor)
    assert alerts(provisioned) == []


def test_the_freshness_schedule_runs_once_a_day_just_after_the_deadline():
    tick_time = datetime(2026, 11, 21, 7, 5, tzinfo=timezone.utc)
    with build_schedule_context(scheduled_execution_time=tick_time) as context:
        request = warehouse_freshness_schedule(context)
    assert request.run_key == "warehouse-freshness-2026-11-21"
    assert warehouse_freshness_schedule.cron_schedule == "5 7 * * *"
