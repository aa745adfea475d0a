"""From "objects arrived in the raw bucket" to "runs to request" — shared by both upload sensors.

Plain functions, no Dagster: parse S3 event notifications, route each object to its dataset and
partition (the contracts' routing), skip what the processing state says is already loaded, and
coalesce a partition's objects into one request whose run key is derived from the object set, so
the same set never runs twice while a re-uploaded object (new etag) does.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import unquote_plus

from pipeline_defs.contracts import route
from pipeline_defs.state import LOADED, QUARANTINED, FileState

# Written by the stream Lambda in bulk; loaded by the day's scheduled run, not one run per file.
SCHEDULED_PREFIXES = ("web/events/", "market/ticks/")


class MalformedNotification(ValueError):
    """A queue message that is not an S3 event notification; it goes to the DLQ after retries."""


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    uploaded: date  # UTC date of the upload (the partition of undated keys)


@dataclass
class Plan:
    requests: dict[tuple[str, str], list[S3Object]] = field(default_factory=dict)
    unroutable: list[S3Object] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


def parse_notification(body: str) -> list[S3Object]:
    """Objects of an S3 event notification; ``[]`` for s3:TestEvent; raises on anything else."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedNotification("body is not JSON") from None
    if isinstance(message, dict) and message.get("Event") == "s3:TestEvent":
        return []
    if isinstance(message, dict) and "Message" in message and "TopicArn" in message:  # via SNS fan-out
        return parse_notification(message["Message"])
    records = message.get("Records") if isinstance(message, dict) else None
    if not isinstance(records, list):
        raise MalformedNotification("no Records list")
    objects = []
    for record in records:
        try:
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            obj = record["s3"]["object"]
            when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
            objects.append(S3Object(key=unquote_plus(obj["key"]), etag=str(obj.get("eTag", "")).strip('"'),
                                    size=int(obj.get("size", 0)), uploaded=when.date()))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MalformedNotification("record without s3.object.key/eventTime") from None
    return objects


def plan_runs(objects: list[S3Object], states: dict[str, FileState]) -> Plan:
    """Group new objects by (dataset, partition); skip loaded ones and scheduled prefixes."""
    plan = Plan()
    grouped: dict[tuple[str, str], dict[str, S3Object]] = defaultdict(dict)
    for obj in objects:
        if obj.key.endswith("/"):
            plan.skipped.append((obj.key, "folder_marker"))
            continue
        if obj.key.startswith(SCHEDULED_PREFIXES):
            plan.skipped.append((obj.key, "scheduled_prefix"))
            continue
        routed = route(obj.key)
        if routed is None:
            plan.unroutable.append(obj)
            continue
        state = states.get(obj.key)
        if state and state.etag == obj.etag and state.status in (LOADED, QUARANTINED):
            plan.skipped.append((obj.key, f"already_{state.status}"))
            continue
        partition = (routed.partition or obj.uploaded).isoformat()
        grouped[(routed.dataset, partition)][obj.key] = obj  # a later notification of a key wins
    plan.requests = {k: sorted(v.values(), key=lambda o: o.key) for k, v in sorted(grouped.items())}
    return plan


def run_key(dataset: str, partition: str, objects: list[S3Object]) -> str:
    digest = hashlib.sha1("\n".join(f"{o.key}\t{o.etag}" for o in sorted(objects, key=lambda o: o.key)).encode())
    return f"{dataset}:{partition}:{digest.hexdigest()[:16]}"
