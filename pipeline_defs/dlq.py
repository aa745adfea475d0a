"""Dead-letter queues: look at what failed and replay it to where it came from.

``list`` peeks without consuming (messages become visible again at once); ``redrive`` sends each
message back to its source queue and deletes it from the DLQ only after the send succeeded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline_defs.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receive_count: int
    sent_at: str
    summary: str
    body: str


def dlq_pairs(settings: Settings) -> dict[str, tuple[str, str]]:
    """name -> (dead-letter queue, source queue)."""
    names = settings.names
    return {
        "uploads": (names.uploads_dlq, names.uploads_queue),
    }


def _summary(body: str) -> str:
    """One line about a body, whatever it holds (deep nesting, huge numbers, odd shapes)."""
    try:
        return _describe(body)
    except Exception as exc:  # noqa: BLE001 — a listing never dies on one hostile message
        return f"unreadable ({type(exc).__name__}): {body[:80]!r}"


def _describe(body: str) -> str:
    try:
        message = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if isinstance(message, dict) and isinstance(message.get("Records"), list):
        keys = [r.get("s3", {}).get("object", {}).get("key", "?") for r in message["Records"] if isinstance(r, dict)]
        return "S3 notification: " + ", ".join(map(str, keys[:3])) + (" …" if len(keys) > 3 else "")
    if isinstance(message, dict):
        return "JSON object with " + ", ".join(sorted(message)[:6])
    return f"JSON {type(message).__name__}"


def peek(sqs, queue: str, limit: int = 100) -> list[DeadLetter]:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    seen: dict[str, DeadLetter] = {}
    receipts: list[str] = []
    while len(seen) < limit:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0,
                                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for m in fresh:
            attrs = m.get("Attributes", {})
            seen[m["MessageId"]] = DeadLetter(m["MessageId"], int(attrs.get("ApproximateReceiveCount", 0)),
                                              attrs.get("SentTimestamp", ""), _summary(m["Body"]), m["Body"])
            receipts.append(m["ReceiptHandle"])
    for receipt in receipts:  # put them back
        try:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except Exception:  # noqa: BLE001 — it becomes visible again after 30 s instead
            pass
    return list(seen.values())


def redrive(sqs, dlq: str, source: str, limit: int = 10_000) -> int:
    """Messages moved; one that cannot be sent stays in the DLQ (its body is never parsed here)."""
    dlq_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    source_url = sqs.get_queue_url(QueueName=source)["QueueUrl"]
    moved, tried = 0, set()
    while moved < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                    WaitTimeSeconds=0).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in tried]
        if not fresh:
            break
        for m in fresh:
            tried.add(m["MessageId"])
            try:
                sqs.send_message(QueueUrl=source_url, MessageBody=m["Body"])
            except Exception:  # noqa: BLE001 — left in the DLQ, visible again after 60 s
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    return moved
