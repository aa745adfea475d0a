"""What of the stream archive is not loaded yet: the hourly archive schedule runs only when this is not empty.

The stream processor writes ``web/events/dt=<day>/…`` and ``market/ticks/dt=<day>/…`` (no upload
sensor run per file, see pipeline_defs/uploads.py); each load records a state per object
(pipeline_defs/state.py). An object is pending while it has no state, a different etag (rewritten), or a
state that is neither loaded nor quarantined. One listing per prefix and one BatchGetItem per 100 keys.
"""

from __future__ import annotations

from datetime import date

from pipeline_defs.contracts.stream_records import STREAM_DATASETS
from pipeline_defs.state import LOADED, QUARANTINED, get_states


def pending_archive_files(s3, ddb, bucket: str, state_table: str, day: date) -> dict[str, list[str]]:
    """Per dataset (only those with any), the day's archive keys not yet loaded, sorted."""
    listed: dict[str, dict[str, str]] = {}
    for dataset, (prefix, _, _) in STREAM_DATASETS.items():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}dt={day.isoformat()}/"):
            for obj in page.get("Contents", []):
                listed.setdefault(dataset, {})[obj["Key"]] = obj["ETag"].strip('"')
    states = get_states(ddb, state_table, [key for objects in listed.values() for key in objects])
    pending = {}
    for dataset, objects in listed.items():
        keys = sorted(key for key, etag in objects.items()
                      if key not in states or states[key].etag != etag or states[key].status not in (LOADED, QUARANTINED))
        if keys:
            pending[dataset] = keys
    return pending
