"""The hot path's real-time event counts for one day, read-only, for the stream-vs-batch section.

The layout is the hot path's (:mod:`pipeline_defs.contracts.realtime`): one item per day and kind,
``pk=metrics#<day>``, ``sk=<day>#<kind>``, counter ``n``. The hot path may not be deployed or may
have seen nothing that day: then this returns None and the report leaves the section out. It never
writes and never fails the report.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from pipeline_defs.contracts.realtime import event_counts, metrics_key, plain
from pipeline_defs.contracts.stream_records import WEB_EVENT_TYPES


def stream_counts(ddb, table: str, day: date, log: Callable[[str], None] | None = None) -> dict[str, int] | None:
    """{event_type: count} of the day's real-time web events, or None when there are none or no hot path."""
    pk = metrics_key(day.isoformat(), "")["pk"]
    items: list[dict] = []
    try:
        for page in ddb.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}):
            items += [plain(item) for item in page.get("Items", [])]
    except (ClientError, BotoCoreError) as exc:  # no table or no permission: no section, and say why
        if log is not None:
            log(f"real-time metrics unavailable ({type(exc).__name__}: {exc}); stream-vs-batch section left out")
        return None
    counts = {kind: n for kind, n in event_counts(items).items() if kind in WEB_EVENT_TYPES}
    return counts if any(counts.values()) else None
