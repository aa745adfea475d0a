"""Honest lineage in the batch library (real PostgreSQL, moto S3 with the versioned raw bucket):
the lake partition equals the warehouse's rows of that partition whatever order loads come in,
the audit splits each file's rows by what the merge did, and the S3 version listed is the one read."""

from __future__ import annotations

import io
import json
import re
import tempfile
from datetime import date
from pathlib import Path

import boto3
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg.rows import dict_row

from pipeline_defs.batch import audit
from pipeline_defs.batch.lake import STAGED
from pipeline_defs.batch.load import load_partition
from pipeline_defs.batch.quarantine import QuarantineSink
from pipeline_defs.batch.raw_files import list_partition_files
from pipeline_defs.batch.validate import validate_partition
from pipeline_defs.contracts import CONTRACTS, column_fields

CUSTOMERS, ORDERS = CONTRACTS["customers"], CONTRACTS["orders"]
DAY = date(2026, 11, 20)


def customer(n: int, updated_at: str = "2026-11-20T10:00:00Z", **overrides) -> dict:
    row = {"customer_id": f"C{n}", "email": f"user{n}@example.com", "country": "GB", "signup_date": "2026-01-02",
           "segment": "smb", "attributes": {"tier": n % 3, "tags": ["a", "b"]}, "updated_at": updated_at}
    return row | overrides


def order(n: int, updated_at: str, quantity: int = 1) -> dict:
    return {"order_id": f"O{n}", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00Z", "status": "paid",
            "currency": "EUR", "total_amount": 10 * quantity, "updated_at": updated_at,
            "items": [{"sku": "S1", "quantity": quantity, "unit_price": 10}]}


def put(settings, key: str, rows: list[dict]) -> str:
    """Upload rows as JSON; returns the new S3 VersionId."""
    return boto3.client("s3").put_object(Bucket=settings.names.raw_bucket, Key=key,
                                         Body=json.dumps(rows).encode())["VersionId"]


def load(settings, url: str, contract, day: date = DAY, after_listing=None):
    """What validated/<dataset> then warehouse/<dataset> do for one day; ``after_listing`` runs
    between the listing and the reading (another upload landing meanwhile)."""
    s3, names = boto3.client("s3"), settings.names
    files = list_partition_files(s3, names.raw_bucket, contract, day)
    if after_listing:
        after_listing()
    with tempfile.TemporaryDirectory() as tmp:
        sink = QuarantineSink(Path(tmp), contract.name, day)
        report = validate_partition(s3, names.raw_bucket, names.processed_bucket, contract, day, files, Path(tmp), sink)
        sink.close()
        sink.publish_s3(s3, names.raw_bucket, names.quarantine_bucket)
        with psycopg.connect(url) as conn:
            with conn.transaction(), conn.cursor() as cur:
                sink.publish_db(cur)
                audit.record_validation(cur, report, "test-run")
            return load_partition(conn, s3, names.processed_bucket, contract, day, Path(tmp), "test-run")


def lake(settings, table: str, day: date = DAY) -> list[dict]:
    s3 = boto3.client("s3")
    rows = []
    for obj in s3.list_objects_v2(Bucket=settings.names.processed_bucket,
                                  Prefix=f"{table}/dt={day.isoformat()}/").get("Contents", []):
        body = s3.get_object(Bucket=settings.names.processed_bucket, Key=obj["Key"])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def warehouse(url: str, table: str, day: date = DAY) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM warehouse.{table} WHERE _partition = %s", (day,)).fetchall()


def assert_lake_is_warehouse(settings, url: str, contract, table: str, day: date = DAY) -> list[dict]:
    """Every column of every row the same (the lake's JSON text parsed), and nothing else in either."""
    json_columns = {f.name for f in column_fields(contract, table) if f.type == "json"}

    def parsed(row: dict) -> str:
        return json.dumps({k: json.loads(v) if k in json_columns and isinstance(v, str) else v for k, v in row.items()},
                          sort_keys=True, default=str)

    in_lake, in_warehouse = lake(settings, table, day), warehouse(url, table, day)
    assert sorted(map(parsed, in_lake)) == sorted(map(parsed, in_warehouse))
    return in_warehouse


def audit_split(url: str, dataset: str, day: date = DAY) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT source_key, rows_in, rows_loaded, rows_quarantined, rows_inserted, rows_updated,"
                            " rows_unchanged, rows_superseded FROM ops.load_audit WHERE dataset = %s"
                            " AND partition_date = %s", (dataset, day)).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_an_older_reupload_leaves_lake_and_warehouse_on_the_newer_rows(pipeline_env, database_url):
    key = "crm/customers/dt=2026-11-20/c.json"
    put(pipeline_env, key, [customer(n) for n in range(1000)])
    load(pipeline_env, database_url, CUSTOMERS)
    older = [customer(n, updated_at="2026-11-19T10:00:00Z") for n in range(1000)]
    older[1]["email"] = "user1v2@example.com"
    put(pipeline_env, key, older)
    (main,) = load(pipeline_env, database_url, CUSTOMERS)

    assert (main.inserted, main.updated, main.unchanged, main.superseded) == (0, 0, 0, 1000)
    rows = assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS, "customers")
    assert len(rows) == 1000
    assert {r["email"] for r in rows if r["customer_id"] == "C1"} == {"user1@example.com"}
    # rows_in, loaded (offered to the merge), quarantined, inserted, updated, unchanged, superseded
    assert audit_split(database_url, "customers") == {key: (1000, 1000, 0, 0, 0, 0, 1000)}
    staged = boto3.client("s3").list_objects_v2(Bucket=pipeline_env.names.processed_bucket,
                                                Prefix=f"{STAGED}customers/dt=2026-11-20/")
    assert [o["Key"] for o in staged["Contents"]] == [f"{STAGED}customers/dt=2026-11-20/part-00000.parquet"]


def test_each_outcome_is_counted_per_file(pipeline_env, database_url):
    key, other = "crm/customers/dt=2026-11-20/c.json", "crm/customers/dt=2026-11-20/d.json"
    put(pipeline_env, key, [customer(1), customer(2), customer(3)])
    put(pipeline_env, other, [customer(9)])
    load(pipeline_env, database_url, CUSTOMERS)
    assert audit_split(database_url, "customers") == {key: (3, 3, 0, 3, 0, 0, 0), other: (1, 1, 0, 1, 0, 0, 0)}

    put(pipeline_env, key, [customer(1, updated_at="2026-11-21T10:00:00Z", city="Leeds"),  # newer: updated
                            customer(2),                                                    # the same: unchanged
                            customer(3, updated_at="2026-11-01T10:00:00Z", city="York"),    # older: superseded
                            customer(4),                                                    # new key: inserted
                            customer(5, email="not-an-email")])                             # quarantined
    load(pipeline_env, database_url, CUSTOMERS)
    assert audit_split(database_url, "customers") == {key: (5, 4, 1, 1, 1, 1, 1), other: (1, 1, 0, 0, 0, 1, 0)}
    rows = {r["customer_id"]: r["city"] for r in assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS,
                                                                          "customers")}
    assert rows == {"C1": "Leeds", "C2": None, "C3": None, "C4": None, "C9": None}


def test_a_key_moving_to_a_later_day_leaves_the_earlier_lake_partition(pipeline_env, database_url):
    day19 = date(2026, 11, 19)
    put(pipeline_env, "crm/customers/dt=2026-11-19/c.json", [customer(1, updated_at="2026-11-19T10:00:00Z"),
                                                             customer(2, updated_at="2026-11-19T10:00:00Z")])
    put(pipeline_env, "crm/customers/dt=2026-11-20/c.json", [customer(1, city="Leeds")])
    load(pipeline_env, database_url, CUSTOMERS, day19)
    (main,) = load(pipeline_env, database_url, CUSTOMERS, DAY)
    assert sorted(main.lake) == [day19, DAY]  # day 19's lake partition lost C1, so it was rewritten too
    assert [r["customer_id"] for r in assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS,
                                                               "customers", day19)] == ["C2"]
    assert [r["city"] for r in assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS, "customers")] == ["Leeds"]

    load(pipeline_env, database_url, CUSTOMERS, day19)  # re-run of the older day: C1 stays on day 20
    assert [r["customer_id"] for r in lake(pipeline_env, "customers", day19)] == ["C2"]
    assert [r["city"] for r in assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS, "customers")] == ["Leeds"]
    assert audit_split(database_url, "customers", day19)["crm/customers/dt=2026-11-19/c.json"] == (
        2, 2, 0, 0, 0, 1, 1)


def test_order_items_in_the_lake_follow_the_orders_that_won(pipeline_env, database_url):
    key = "erp/orders/dt=2026-11-20/o.json"
    put(pipeline_env, key, [order(1, "2026-11-20T10:00:00Z", quantity=2), order(2, "2026-11-20T10:00:00Z")])
    load(pipeline_env, database_url, ORDERS)
    put(pipeline_env, key, [order(1, "2026-11-19T10:00:00Z", quantity=5), order(2, "2026-11-21T10:00:00Z", 3)])
    main, items = load(pipeline_env, database_url, ORDERS)
    assert (main.updated, main.superseded, items.inserted, items.superseded, items.deleted) == (1, 1, 1, 1, 1)
    assert_lake_is_warehouse(pipeline_env, database_url, ORDERS, "orders")
    lines = assert_lake_is_warehouse(pipeline_env, database_url, ORDERS, "order_items")
    assert sorted((r["order_id"], r["quantity"]) for r in lines) == [("O1", 2), ("O2", 3)]


def test_the_version_listed_is_the_version_read_and_recorded(pipeline_env, database_url):
    key = "crm/customers/dt=2026-11-20/c.json"
    first = put(pipeline_env, key, [customer(1, city="first")])
    listed_etag = boto3.client("s3").head_object(Bucket=pipeline_env.names.raw_bucket, Key=key)["ETag"].strip('"')
    second = None

    def overwrite():
        nonlocal second
        second = put(pipeline_env, key, [customer(1, city="second", updated_at="2026-11-21T10:00:00Z"),
                                          customer(2, city="second")])

    load(pipeline_env, database_url, CUSTOMERS, after_listing=overwrite)
    assert second and second != first
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT source_key, etag, version_id, rows_in FROM ops.load_audit").fetchall() == [
            (key, listed_etag, first, 1)]
        assert conn.execute("SELECT customer_id, city FROM warehouse.customers").fetchall() == [("C1", "first")]

    load(pipeline_env, database_url, CUSTOMERS)  # the next listing sees the new version
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version_id, rows_in FROM ops.load_audit").fetchall() == [(second, 2)]
        assert conn.execute("SELECT customer_id, city FROM warehouse.customers ORDER BY 1").fetchall() == [
            ("C1", "second"), ("C2", "second")]


def test_a_rejected_file_is_quarantined_as_the_version_read(pipeline_env, database_url):
    key, broken = "crm/customers/dt=2026-11-20/c.json", b'[{"customer_id": "C1"'
    s3, names = boto3.client("s3"), pipeline_env.names
    first = s3.put_object(Bucket=names.raw_bucket, Key=key, Body=broken)["VersionId"]
    load(pipeline_env, database_url, CUSTOMERS, after_listing=lambda: put(pipeline_env, key, [customer(1)]))
    copy = s3.get_object(Bucket=names.quarantine_bucket, Key="customers/dt=2026-11-20/files/" + key.replace("/", "__"))
    assert copy["Body"].read() == broken
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status, reason, version_id FROM ops.load_audit").fetchall() == [
            ("quarantined", "malformed:json", first)]
        assert conn.execute("SELECT count(*) FROM warehouse.customers").fetchone() == (0,)


def test_a_load_without_matching_staged_rows_fails_and_changes_nothing(pipeline_env, database_url):
    key = "crm/customers/dt=2026-11-20/c.json"
    put(pipeline_env, key, [customer(1), customer(2)])
    load(pipeline_env, database_url, CUSTOMERS)
    s3, bucket = boto3.client("s3"), pipeline_env.names.processed_bucket
    s3.delete_object(Bucket=bucket, Key=f"{STAGED}customers/dt=2026-11-20/part-00000.parquet")  # e.g. lost
    expected = f"(file: audited, staged) {{'{key}': (2, 0)}}; re-materialise validated/customers"
    with psycopg.connect(database_url) as conn, tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(ValueError, match=re.escape(expected)):
            load_partition(conn, s3, bucket, CUSTOMERS, DAY, Path(tmp), "again")
    assert audit_split(database_url, "customers") == {key: (2, 2, 0, 2, 0, 0, 0)}
    assert len(assert_lake_is_warehouse(pipeline_env, database_url, CUSTOMERS, "customers")) == 2
