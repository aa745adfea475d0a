"""A failed load comes back by itself: failed state, retry with backoff under a new run key, alert at the end;
and an identical re-upload after a failure is a new run while a redelivered notification is not."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
from dagster import DagsterRun, DagsterRunStatus

from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.state import FAILED, MAX_ATTEMPTS, PENDING, FileState, get_states, put_states
from sensors.recovery import load_recovery_sensor
from sensors.run_requests import ATTEMPT_TAG, LOAD_TAG, REQUEST_TAG
from sensors.sqs_upload import sqs_upload_sensor
from tests.sensors.test_message_isolation import send
from tests.sensors.test_upload_sensors import instance, tick, upload  # noqa: F401 (fixture)

KEY = "crm/customers/dt=2026-11-20/a.json"


def failed_run(instance, request, status=DagsterRunStatus.FAILURE, **tags) -> DagsterRun:
    run = DagsterRun(job_name="load_customers", status=status, tags={
        REQUEST_TAG: request.run_key, LOAD_TAG: request.tags[LOAD_TAG], ATTEMPT_TAG: request.tags[ATTEMPT_TAG],
        "dagster/partition": request.partition_key, **tags})
    return instance.add_run(run)


def state(settings) -> FileState:
    return get_states(boto3.client("dynamodb"), settings.names.state_table, [KEY])[KEY]


def make_due(settings) -> None:
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="seconds")
    current = state(settings)
    put_states(boto3.client("dynamodb"), settings.names.state_table, [
        FileState(**{**current.__dict__, "retry_at": past, "updated_at": ""})])


def test_failed_load_is_retried_with_backoff_then_alerted(provisioned, instance):
    upload(provisioned, KEY)
    first = tick(sqs_upload_sensor, provisioned, instance).run_requests[0]
    assert (state(provisioned).status, state(provisioned).run_key) == (PENDING, first.run_key)

    # Dagster's own run retry comes first: a run it will retry is left alone
    failed_run(instance, first, **{"dagster/will_retry": "true"})
    assert tick(load_recovery_sensor, provisioned, instance).run_requests == []
    assert state(provisioned).status == PENDING

    request = first
    for attempt in range(1, MAX_ATTEMPTS):
        failed_run(instance, request)
        waiting = tick(load_recovery_sensor, provisioned, instance)
        assert waiting.run_requests == []  # backoff: not yet
        assert (state(provisioned).status, state(provisioned).attempt) == (FAILED, attempt)
        make_due(provisioned)
        retry = tick(load_recovery_sensor, provisioned, instance).run_requests
        assert [(r.job_name, r.partition_key, r.tags[ATTEMPT_TAG]) for r in retry] == [
            ("load_customers", "2026-11-20", str(attempt + 1))]
        assert retry[0].run_key not in (request.run_key, first.run_key)
        assert (state(provisioned).status, state(provisioned).run_key) == (PENDING, retry[0].run_key)
        request = retry[0]

    failed_run(instance, request, status=DagsterRunStatus.CANCELED)  # the last attempt, cancelled
    assert tick(load_recovery_sensor, provisioned, instance).run_requests == []
    final = state(provisioned)
    assert (final.status, final.attempt, final.retry_at) == (FAILED, MAX_ATTEMPTS, "")
    assert final.reason.startswith(f"gave up after {MAX_ATTEMPTS} failed loads")
    sqs = boto3.client("sqs")
    inbox = sqs.get_queue_url(QueueName=inbox_queue_name(provisioned.names.alerts_topic))["QueueUrl"]
    alert = json.loads(sqs.receive_message(QueueUrl=inbox)["Messages"][0]["Body"])
    assert "gave up" in alert["Subject"] and KEY in alert["Message"]
    assert tick(load_recovery_sensor, provisioned, instance).run_requests == []  # and no more tries


def test_redelivery_keeps_its_key_and_a_reupload_after_failure_is_a_new_run(provisioned, instance):
    upload(provisioned, KEY)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=provisioned.names.uploads_queue)["QueueUrl"]
    body = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["Body"]
    first = tick(sqs_upload_sensor, provisioned, instance)
    send(provisioned, body)  # S3 delivers at least once: the same notification again, run still pending
    again = tick(sqs_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert [r.run_key for r in again.run_requests] == [first.run_requests[0].run_key]  # Dagster keeps one run

    failed_run(instance, first.run_requests[0])
    tick(load_recovery_sensor, provisioned, instance)
    assert state(provisioned).status == FAILED
    upload(provisioned, KEY)  # the identical bytes again: processed, not "already completed"
    third = tick(sqs_upload_sensor, provisioned, instance, cursor=again.cursor)
    assert len(third.run_requests) == 1 and third.run_requests[0].run_key != first.run_requests[0].run_key
    assert third.run_requests[0].tags[ATTEMPT_TAG] == "2"


def test_wiped_state_and_reseed_is_a_new_run(provisioned, instance):
    """moto wiped (state lost) but Dagster's run keys kept: the same bytes uploaded again still run."""
    upload(provisioned, KEY)
    first = tick(sqs_upload_sensor, provisioned, instance)
    ddb = boto3.client("dynamodb")
    ddb.delete_item(TableName=provisioned.names.state_table, Key={"pk": {"S": f"file#{KEY}"}, "sk": {"S": "state"}})
    upload(provisioned, KEY)
    second = tick(sqs_upload_sensor, provisioned, instance, cursor=first.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_failed_load_is_found_among_many_other_failed_runs(provisioned, instance):
    """A day of failing automation runs (an aggregate that keeps failing) does not hide a failed load."""
    upload(provisioned, KEY)
    request = tick(sqs_upload_sensor, provisioned, instance).run_requests[0]
    failed_run(instance, request)
    for _ in range(250):
        instance.add_run(DagsterRun(job_name="__ASSET_JOB", status=DagsterRunStatus.FAILURE,
                                    tags={"pipeline/trigger": "automation"}))
    tick(load_recovery_sensor, provisioned, instance)
    assert (state(provisioned).status, state(provisioned).attempt) == (FAILED, 1)
