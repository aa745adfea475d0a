"""Aggregate items in DynamoDB: replace one partition's items, read them back.

Layout of ``pipeline-aggregates``: ``pk=<aggregate>#<YYYY-MM-DD>``, ``sk=<dimension values>``, so a
partition of one aggregate is exactly one item collection. Replacing it writes every produced item
(BatchWriteItem, 25 per call, unprocessed items retried with backoff) and then deletes the items of
that collection that were not produced this time, so a re-run leaves the same items and nothing stale.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from pipeline_defs.dynamo import batch_write

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class ReplaceSummary:
    pk: str
    written: int
    deleted: int


def _number(value: float) -> Decimal:
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value!r} cannot be stored in DynamoDB")
    return Decimal(str(round(value, 6)))


def _plain(value):
    """Python values → what the DynamoDB serializer accepts (floats become Decimals; None is dropped)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, Decimal)):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def to_item(item: dict) -> dict:
    """A plain dict (with pk and sk) → a DynamoDB item in attribute-value form."""
    return {k: _SERIALIZER.serialize(_plain(v)) for k, v in item.items() if v is not None}


def from_item(item: dict) -> dict:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def existing_keys(ddb, table: str, pk: str) -> set[str]:
    keys: set[str] = set()
    pages = ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk", ProjectionExpression="sk",
        ExpressionAttributeValues={":pk": {"S": pk}})
    for page in pages:
        keys.update(item["sk"]["S"] for item in page.get("Items", []))
    return keys


def replace_partition(ddb, table: str, pk: str, items: Iterable[dict]) -> ReplaceSummary:
    """Make the item collection ``pk`` hold exactly ``items`` (each a dict with ``sk``)."""
    rows = [{**item, "pk": pk} for item in items]
    produced = Counter(row["sk"] for row in rows)
    duplicates = sorted(sk for sk, n in produced.items() if n > 1)
    if duplicates:
        raise ValueError(f"{pk}: the aggregate produced duplicate sort keys {duplicates[:5]}")
    stale = existing_keys(ddb, table, pk) - set(produced)
    batch_write(ddb, table, [{"PutRequest": {"Item": to_item(row)}} for row in rows])
    batch_write(ddb, table, [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for sk in sorted(stale)])
    return ReplaceSummary(pk=pk, written=len(rows), deleted=len(stale))


def read_partition(ddb, table: str, pk: str) -> list[dict]:
    """Every item of the collection ``pk`` as plain dicts (numbers as Decimal), ordered by sk."""
    items: list[dict] = []
    pages = ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}})
    for page in pages:
        items.extend(from_item(item) for item in page.get("Items", []))
    return sorted(items, key=lambda item: item["sk"])
