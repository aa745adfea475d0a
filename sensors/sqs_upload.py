"""``sqs_upload_sensor``: S3 event notifications from the uploads queue become runs.

Two phases per tick keep nothing lost and nothing run twice:

1. Messages whose run requests the *previous* tick returned are deleted now — Dagster records a
   tick's run requests before it stores the cursor that lists them, so they are safely recorded.
2. New messages (bounded per tick, so a 10k backlog drains over several ticks) are planned into one
   run request per dataset-partition with a run key derived from the objects, their upload events
   and the load attempt (``pipeline_defs/uploads.py``).

Each message is handled alone: one that cannot be parsed or planned — whatever it raises — is made
visible again at once, by itself (the queue's redrive policy moves it to the DLQ after 3 receives);
the other messages of the tick go on. Objects that cannot be loaded (unroutable, a ``dt=`` outside
the partitions) are quarantined with their reason and alerted. Requested objects are recorded
``pending`` with their run key (``pipeline_defs/state.py``).
"""


import json
import time

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster_aws.s3 import S3Resource

from pipeline_defs.jobs import load_jobs
from pipeline_defs.settings import get_settings
from pipeline_defs.state import get_states, put_states
from pipeline_defs.uploads import Plan, add_object, finish, merge, parse_notification
from resources.aws import DynamoDBResource, SNSResource, SQSResource
from sensors.run_requests import partition_window, plan_run_requests
from sensors.unroutable import quarantine_rejected

MAX_MESSAGES_PER_TICK = 500
TICK_RECEIVE_BUDGET_SECONDS = 10.0  # stop receiving after this long; the rest waits for the next tick
RECEIPT_VISIBILITY_SECONDS = 300  # long enough for the next tick to delete with the same receipt


def _queue_url(sqs, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def delete_messages(sqs, queue_url: str, receipts: list[str]) -> int:
    deleted = 0
    for start in range(0, len(receipts), 10):
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start:start + 10])]
        response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        deleted += len(response.get("Successful", []))
    return deleted


def receive_batch(sqs, queue_url: str, limit: int, budget_seconds: float = TICK_RECEIVE_BUDGET_SECONDS) -> list[dict]:
    """Up to ``limit`` messages, or what arrives within ``budget_seconds`` — bounded work per tick."""
    messages: list[dict] = []
    deadline = time.monotonic() + budget_seconds
    while len(messages) < limit and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - len(messages)), WaitTimeSeconds=0,
            VisibilityTimeout=RECEIPT_VISIBILITY_SECONDS, AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not got:
            break
        messages.extend(got)
    return messages


def release(client, queue_url: str, message: dict, why: str, log) -> None:
    """Make one message visible again at once; the queue's redrive policy dead-letters it after 3 receives."""
    count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
    log.warning(f"message {message.get('MessageId')}: {why}; receive #{count}, the DLQ takes it after 3")
    try:
        client.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                         VisibilityTimeout=0)
    except Exception as exc:  # noqa: BLE001 — it then comes back after its visibility timeout instead
        log.warning(f"message {message.get('MessageId')} not released ({exc})")


def plan_messages(messages: list[dict], states: dict, release_one) -> tuple[Plan, list[dict]]:
    """The tick's plan and the messages it covers; a message whose objects cannot be planned is
    released alone (whatever the exception), never failing the others."""
    plan, planned = Plan(), []
    window = partition_window()
    for message, objects in messages:
        try:
            part = Plan()
            for obj in objects:
                add_object(part, obj, states, window)
            merge(plan, part)
            planned.append(message)
        except Exception as exc:  # noqa: BLE001
            release_one(message, f"not planned ({type(exc).__name__}: {str(exc)[:200]})")
    return finish(plan), planned


@sensor(
    name="sqs_upload_sensor",
    jobs=load_jobs,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING if "sqs" in get_settings().upload_sensors else DefaultSensorStatus.STOPPED,
    description="Starts a load run per dataset-partition from S3 upload notifications on the uploads queue.",
)
def sqs_upload_sensor(context: SensorEvaluationContext, sqs: SQSResource, dynamodb: DynamoDBResource,
                      s3: S3Resource, sns: SNSResource):
    settings = get_settings()
    client = sqs.get_client()
    try:
        queue_url = _queue_url(client, settings.names.uploads_queue)
    except Exception as exc:  # the queue or the endpoint is not there: skip this tick, say why
        return SkipReason(f"uploads queue {settings.names.uploads_queue!r} unavailable: {exc}")

    def release_one(message: dict, why: str) -> None:
        release(client, queue_url, message, why, context.log)

    previous = json.loads(context.cursor) if context.cursor else {}
    recorded = previous.get("delete", [])
    if recorded:
        context.log.info(f"deleted {delete_messages(client, queue_url, recorded)} of {len(recorded)} handled messages")

    messages = receive_batch(client, queue_url, MAX_MESSAGES_PER_TICK)
    parsed = []
    for message in messages:
        try:
            parsed.append((message, parse_notification(message["Body"])))
        except Exception as exc:  # noqa: BLE001 — MalformedNotification, or anything a hostile body raises
            release_one(message, f"not an S3 notification ({str(exc)[:200]})")
    malformed = len(messages) - len(parsed)
    try:
        ddb = dynamodb.get_client()
        states = get_states(ddb, settings.names.state_table, [o.key for _, objs in parsed for o in objs])
    except Exception as exc:  # without state nothing can be planned safely: try again next tick
        for message, _ in parsed:
            release_one(message, "processing state unavailable")
        return SensorResult(skip_reason=SkipReason(f"processing state unavailable: {exc}"), cursor=json.dumps({}))
    plan, planned = plan_messages(parsed, states, release_one)
    for key, reason in plan.skipped:
        context.log.info(f"skip {key}: {reason}")
    if plan.rejected:
        try:
            quarantine_rejected(s3.get_client(), sns.get_client(), ddb, settings, plan.rejected)
            context.log.warning(f"quarantined {len(plan.rejected)} object(s) that cannot be loaded: "
                                + ", ".join(f"{o.key} ({reason})" for o, reason in plan.rejected[:10]))
        except Exception as exc:  # noqa: BLE001 — their messages come back; the runs below still go
            rejected_keys = {o.key for o, _ in plan.rejected}
            for message, objects in parsed:
                if message in planned and rejected_keys & {o.key for o in objects}:
                    planned.remove(message)
                    release_one(message, f"quarantine failed ({exc})")
    requests, pending = plan_run_requests(plan, "sqs_upload_sensor", states)
    try:
        put_states(ddb, settings.names.state_table, pending)
    except Exception as exc:  # noqa: BLE001 — the runs still go; run keys keep them single
        context.log.warning(f"pending state not recorded ({exc})")
    context.log.info(f"{len(messages)} message(s): {len(requests)} run request(s), {len(plan.skipped)} skipped, "
                     f"{len(plan.rejected)} quarantined, {malformed} malformed")
    cursor = json.dumps({"delete": [m["ReceiptHandle"] for m in planned]})
    if not requests:
        return SensorResult(skip_reason=SkipReason(f"no new uploads ({len(messages)} message(s) read)"), cursor=cursor)
    return SensorResult(run_requests=requests, cursor=cursor)
