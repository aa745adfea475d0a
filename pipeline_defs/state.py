"""Per-file processing state in DynamoDB (one item per raw object), seed 001's "processing state".

Item: ``pk=file#<key>``, ``sk=state``; attributes key, etag, version_id (the S3 version read),
size, dataset, partition, status (pending / loaded / quarantined / failed), rows_in / rows_loaded /
rows_quarantined, the merge's split of rows_loaded (rows_inserted / rows_updated / rows_unchanged /
rows_superseded, as in pipeline_defs/batch/audit.py), run_id, run_key / attempt / retry_at (which run
request it waits on, how many loads were tried, when the next one is due), updated_at. GSI ``gsi1``
(``gsi1pk=files#<dataset>#<date>``, ``gsi1sk=<key>``) lists a partition's files. The upload sensors
write ``pending`` and skip what is loaded; the warehouse asset writes loaded/quarantined;
``sensors/recovery.py`` turns a failed run's pending files into ``failed`` and re-requests them with
backoff until :data:`MAX_ATTEMPTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Iterator

from pipeline_defs.dynamo import batch_write

PENDING, LOADED, QUARANTINED, FAILED = "pending", "loaded", "quarantined", "failed"
MERGE_COUNTS = ("rows_inserted", "rows_updated", "rows_unchanged", "rows_superseded")
MAX_ATTEMPTS = 4  # loads requested per upload (each with Dagster's own run retries), then an alert
RETRY_BASE_SECONDS = 60  # a failed load is requested again after 1, 4, 16 minutes


def retry_delay_seconds(attempt: int) -> int:
    """Wait after the ``attempt``-th failed load (1-based) before requesting the next."""
    return RETRY_BASE_SECONDS * 4 ** (attempt - 1)


@dataclass(frozen=True)
class FileState:
    key: str
    etag: str
    dataset: str
    partition: str
    status: str
    size: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str = ""
    run_id: str = ""
    run_key: str = ""
    attempt: int = 0
    retry_at: str = ""  # ISO time the next load is due (failed files only)
    updated_at: str = ""
    version_id: str = ""
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_superseded: int = 0

    def item(self) -> dict:
        merged = {name: {"N": str(getattr(self, name))} for name in MERGE_COUNTS}
        return merged | {
            "pk": {"S": f"file#{self.key}"}, "sk": {"S": "state"},
            "gsi1pk": {"S": f"files#{self.dataset}#{self.partition}"}, "gsi1sk": {"S": self.key},
            "key": {"S": self.key}, "etag": {"S": self.etag}, "dataset": {"S": self.dataset},
            "partition": {"S": self.partition}, "status": {"S": self.status}, "size": {"N": str(self.size)},
            "rows_in": {"N": str(self.rows_in)}, "rows_loaded": {"N": str(self.rows_loaded)},
            "rows_quarantined": {"N": str(self.rows_quarantined)}, "reason": {"S": self.reason},
            "run_id": {"S": self.run_id}, "run_key": {"S": self.run_key}, "attempt": {"N": str(self.attempt)},
            "retry_at": {"S": self.retry_at}, "updated_at": {"S": self.updated_at or _now()},
            "version_id": {"S": self.version_id},
        }

    @classmethod
    def from_item(cls, item: dict) -> "FileState":
        def s(name: str) -> str:
            return item.get(name, {}).get("S", "")

        def n(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        return cls(key=s("key"), etag=s("etag"), dataset=s("dataset"), partition=s("partition"),
                   status=s("status"), size=n("size"), rows_in=n("rows_in"), rows_loaded=n("rows_loaded"),
                   rows_quarantined=n("rows_quarantined"), reason=s("reason"), run_id=s("run_id"),
                   run_key=s("run_key"), attempt=n("attempt"), retry_at=s("retry_at"), updated_at=s("updated_at"),
                   version_id=s("version_id"), **{name: n(name) for name in MERGE_COUNTS})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def put_states(ddb, table: str, states: Iterable[FileState]) -> int:
    """Write items in batches of 25, retrying what DynamoDB leaves unprocessed."""
    return batch_write(ddb, table, [{"PutRequest": {"Item": state.item()}} for state in states])


def get_states(ddb, table: str, keys: Iterable[str]) -> dict[str, FileState]:
    """Current state of each key that has one (BatchGetItem, 100 keys per call)."""
    unique = list(dict.fromkeys(keys))
    found: dict[str, FileState] = {}
    for start in range(0, len(unique), 100):
        request = {table: {"Keys": [{"pk": {"S": f"file#{k}"}, "sk": {"S": "state"}} for k in unique[start:start + 100]]}}
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                state = FileState.from_item(item)
                found[state.key] = state
            request = response.get("UnprocessedKeys") or {}
    return found


def list_partition_states(ddb, table: str, dataset: str, partition: date | str) -> Iterator[FileState]:
    paginator = ddb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"files#{dataset}#{partition}"}},
    )
    for page in pages:
        for item in page.get("Items", []):
            yield FileState.from_item(item)


def scan_states(ddb, table: str, dataset: str | None = None) -> Iterator[FileState]:
    """Every file item (optionally of one dataset); for `pipeline status files` without a date."""
    kwargs: dict = {"TableName": table, "FilterExpression": "sk = :s", "ExpressionAttributeValues": {":s": {"S": "state"}}}
    if dataset:
        kwargs["FilterExpression"] += " AND dataset = :d"
        kwargs["ExpressionAttributeValues"][":d"] = {"S": dataset}
    for page in ddb.get_paginator("scan").paginate(**kwargs):
        for item in page.get("Items", []):
            yield FileState.from_item(item)
