"""From "objects arrived in the raw bucket" to "runs to request" — shared by both upload sensors.

Plain functions, no Dagster: parse S3 event notifications, route each object to its dataset and
partition (the contracts' routing), skip what the processing state says is already loaded, reject
what cannot be loaded (unroutable, a ``dt=`` outside the partitions) with a reason, and coalesce a
partition's objects into one request whose run key is derived from the objects *and their upload
events*: a duplicate delivery of one notification never runs twice, while any new upload — a
re-upload of identical bytes after a failed load, or a re-seed after the state was wiped — does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import unquote_plus

from pipeline_defs.contracts.routing import route, under
from pipeline_defs.state import FAILED, LOADED, PENDING, QUARANTINED, FileState

# Written by the stream Lambda in bulk; loaded by the day's scheduled run, not one run per file.
SCHEDULED_PREFIXES = ("web/events/", "market/ticks/")
UNROUTABLE = "unroutable"
INVALID_PARTITION = "invalid:partition"


class MalformedNotification(ValueError):
    """A queue message that is not an S3 event notification; it goes to the DLQ after retries."""


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    uploaded: date  # UTC date of the upload (the partition of undated keys)
    event: str = ""  # identifies one upload: S3's sequencer + event time, or the listing's LastModified


@dataclass
class Plan:
    requests: dict[tuple[str, str], list[S3Object]] = field(default_factory=dict)
    rejected: list[tuple[S3Object, str]] = field(default_factory=list)  # (object, reason): quarantined + alerted
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


def parse_notification(body: str) -> list[S3Object]:
    """Objects of an S3 event notification; ``[]`` for s3:TestEvent; raises MalformedNotification on
    anything else — whatever the body (deep nesting, huge numbers, wrong types)."""
    try:
        return _parse(body)
    except MalformedNotification:
        raise
    except (RecursionError, MemoryError) as exc:
        raise MalformedNotification(f"body too deeply nested or too large ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 — any other shape of hostile input is a malformed message too
        raise MalformedNotification(f"unreadable notification ({type(exc).__name__}: {str(exc)[:200]})") from None


def _parse(body: str) -> list[S3Object]:
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedNotification("body is not JSON") from None
    if isinstance(message, dict) and message.get("Event") == "s3:TestEvent":
        return []
    if isinstance(message, dict) and "Message" in message and "TopicArn" in message:  # via SNS fan-out
        return _parse(message["Message"])
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
                                    size=int(obj.get("size", 0)), uploaded=when.date(),
                                    event=f"{obj.get('sequencer', '')}@{record['eventTime']}"))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            raise MalformedNotification("record without s3.object.key/eventTime/size") from None
    return objects


def add_object(plan: Plan, obj: S3Object, states: dict[str, FileState], partitions: tuple[str, str]) -> None:
    """Plan one object into ``plan``: group it by (dataset, partition); skip loaded ones and scheduled
    prefixes; reject unroutable keys and partitions outside ``partitions`` (first, last day, ISO).
    Requests are grouped; call :func:`finish` once at the end."""
    if obj.key.endswith("/"):
        plan.skipped.append((obj.key, "folder_marker"))
        return
    if any(under(obj.key, prefix) for prefix in SCHEDULED_PREFIXES):
        plan.skipped.append((obj.key, "scheduled_prefix"))
        return
    routed = route(obj.key)
    if routed is None or obj.key.startswith("/"):  # a leading "/" routes but no listing finds it
        plan.rejected.append((obj, UNROUTABLE))
        return
    partition = (routed.partition or obj.uploaded).isoformat()
    if not partitions[0] <= partition <= partitions[1]:
        plan.rejected.append((obj, INVALID_PARTITION))
        return
    state = states.get(obj.key)
    if state and state.etag == obj.etag and state.status in (LOADED, QUARANTINED):
        plan.skipped.append((obj.key, f"already_{state.status}"))
        return
    group = plan.requests.setdefault((routed.dataset, partition), [])
    group[:] = [o for o in group if o.key != obj.key] + [obj]  # a later notification of a key wins


def merge(into: Plan, part: Plan) -> None:
    """Add a message's own plan to the tick's plan (a later notification of a key wins)."""
    into.rejected += part.rejected
    into.skipped += part.skipped
    for group_key, objects in part.requests.items():
        keys = {o.key for o in objects}
        group = into.requests.setdefault(group_key, [])
        group[:] = [o for o in group if o.key not in keys] + objects


def finish(plan: Plan) -> Plan:
    plan.requests = {k: sorted(v, key=lambda o: o.key) for k, v in sorted(plan.requests.items())}
    return plan


def attempt_of(objects: list[S3Object], states: dict[str, FileState]) -> int:
    """Which load attempt a request for ``objects`` is: the next one after a failed load of the same
    bytes, the same one while such a load is pending (so a redelivery maps to the same run key), else 1."""
    attempts = [1]
    for obj in objects:
        state = states.get(obj.key)
        if state and state.etag == obj.etag:
            if state.status == FAILED:
                attempts.append(state.attempt + 1)
            elif state.status == PENDING:
                attempts.append(state.attempt)
    return max(attempts)


def run_key(dataset: str, partition: str, objects: list[S3Object], attempt: int) -> str:
    """Same objects from the same upload events, same attempt → same key (a redelivered notification
    does not run twice); a new upload of the same bytes, or the next attempt, is a new key."""
    lines = (f"{o.key}\t{o.etag}\t{o.event}" for o in sorted(objects, key=lambda o: o.key))
    return f"{dataset}:{partition}:{hashlib.sha1(chr(10).join(lines).encode()).hexdigest()[:16]}:a{attempt}"


def next_attempt_key(key: str, attempt: int) -> str:
    """The run key of attempt ``attempt`` of the request whose key was ``key``."""
    return f"{key.rpartition(':a')[0] or key}:a{attempt}"
