"""Helpers (no tests here) for the aggregates and report tests: seeded days loaded through the real batch assets.

Same pattern as tests/assets/test_batch_path.py: raw objects into moto S3, then ``materialize`` of
raw → validated → warehouse for the partition, against the per-test PostgreSQL database.
"""

from __future__ import annotations

from datetime import date

import boto3
import psycopg
from dagster import AssetKey, materialize

from assets.aggregates import aggregate_assets
from assets.raw import raw_assets
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.aggregates.store import from_item
from pipeline_defs.resources import build_resources
from pipeline_defs.seed import files_for_day

BATCH_ASSETS = [*raw_assets, *validated_assets, *warehouse_assets]


def put_raw(settings, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)


def load_day(settings, day: date, index: int = 0, files: dict[str, bytes] | None = None) -> None:
    """Upload a seeded (or given) day and run it through raw → validated → warehouse."""
    for key, body in (files if files is not None else files_for_day(day, index)).items():
        put_raw(settings, key, body)
    result = materialize(BATCH_ASSETS, partition_key=day.isoformat(), resources=build_resources(settings),
                         raise_on_error=True)
    assert result.success


def materialize_aggregates(settings, day: date, names: list[str] | None = None):
    selection = [AssetKey(["aggregates", n]) for n in (names or AGGREGATES)]
    result = materialize([*BATCH_ASSETS, *aggregate_assets], partition_key=day.isoformat(),
                         resources=build_resources(settings), selection=selection, raise_on_error=True)
    assert result.success
    return result


def query(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def items(settings, pk: str) -> dict[str, dict]:
    """sk → item of one aggregate partition, read straight from DynamoDB."""
    ddb = boto3.client("dynamodb")
    found = ddb.query(TableName=settings.names.aggregates_table, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": pk}})["Items"]
    return {i["sk"]: i for i in map(from_item, found)}


def scan_aggregates(settings) -> list[dict]:
    ddb = boto3.client("dynamodb")
    found = []
    for page in ddb.get_paginator("scan").paginate(TableName=settings.names.aggregates_table):
        found += page["Items"]
    return sorted(found, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
