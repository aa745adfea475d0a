"""DynamoDB batch writes with retry of unprocessed items, shared by every table the pipeline writes."""

from __future__ import annotations

import time

BATCH = 25


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept returning unprocessed items after every retry (throttling that did not clear)."""


def batch_write(ddb, table: str, requests: list[dict], attempts: int = 8, pause: float = 0.05) -> int:
    """BatchWriteItem in chunks of 25; retries what DynamoDB returns as unprocessed, with backoff."""
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start:start + BATCH]}
        for attempt in range(attempts):
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(pause * 2 ** attempt, 2.0))
        else:
            raise UnprocessedItemsError(
                f"DynamoDB left {len(pending.get(table, []))} writes unprocessed in {table} after {attempts} attempts")
    return len(requests)
