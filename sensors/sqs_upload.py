"""``sqs_upload_sensor``: S3 event notifications from the uploads queue become runs.

Two phases per tick keep nothing lost and nothing run twice:

1. Messages whose run requests the *previous* tick returned are deleted now — Dagster records a
   tick's run requests before it stores the cursor that lists them, so they are safely recorded.
2. New messages (bounded per tick, so a 10k backlog drains over several ticks) are planned into one
   run request per dataset-partition with a run key derived from the object set.

A message that is not an S3 notification is left alone (made visible again at once): the queue's
redrive policy moves it to the DLQ after 3 receives. Unroutable objects are quarantined and alerted.
"""


import json
import time

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster_aws.s3 import S3Resource

from pipeline_defs.jobs import load_jobs
from pipeline_defs.settings import get_settings
from pipeline_defs.state import get_states
from pipeline_defs.uploads import MalformedNotification, Plan, parse_notification, plan_runs
from resources.aws import DynamoDBResource, SNSResource, SQSResource
from sensors.run_requests import plan_run_requests
from sensors.unroutable import quarantine_unroutable

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

    previous = json.loads(context.cursor) if context.cursor else {}
    recorded = previous.get("delete", [])
    if recorded:
        context.log.info(f"deleted {delete_messages(client, queue_url, recorded)} of {len(recorded)} handled messages")

    messages = receive_batch(client, queue_url, MAX_MESSAGES_PER_TICK)
    objects, handled, malformed = [], [], 0
    for message in messages:
        try:
            objects.extend(parse_notification(message["Body"]))
            handled.append(message["ReceiptHandle"])
        except MalformedNotification as exc:
            malformed += 1
            count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            context.log.warning(f"message {message['MessageId']} is not an S3 notification ({exc}); "
                                f"receive #{count}, the DLQ takes it after 3")
            client.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                             VisibilityTimeout=0)
    try:
        states = get_states(dynamodb.get_client(), settings.names.state_table, [o.key for o in objects])
    except Exception as exc:  # state unavailable: plan without it; run keys still prevent double runs
        context.log.warning(f"processing state unavailable ({exc}); planning without it")
        states = {}
    plan: Plan = plan_runs(objects, states)
    for key, reason in plan.skipped:
        context.log.info(f"skip {key}: {reason}")
    if plan.unroutable:
        quarantine_unroutable(s3.get_client(), sns.get_client(), dynamodb.get_client(), settings, plan.unroutable)
        context.log.warning(f"quarantined {len(plan.unroutable)} unroutable object(s)")

    requests = plan_run_requests(plan, "sqs_upload_sensor")
    context.log.info(f"{len(messages)} message(s): {len(requests)} run request(s), {len(plan.skipped)} skipped, "
                     f"{len(plan.unroutable)} unroutable, {malformed} malformed")
    cursor = json.dumps({"delete": handled})
    if not requests:
        return SensorResult(skip_reason=SkipReason(f"no new uploads ({len(messages)} message(s) read)"), cursor=cursor)
    return SensorResult(run_requests=requests, cursor=cursor)
