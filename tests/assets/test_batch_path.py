"""The batch path end to end in-process: raw S3 files → validated (lake + quarantine) → warehouse.

Real PostgreSQL, moto S3, Dagster's `materialize`. Assertions are on what a user would look at:
warehouse rows, Parquet files, quarantine rows with reasons, the audit's row equation.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import date

import boto3
import psycopg
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, materialize

from assets.raw import raw_assets
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from pipeline_defs.resources import build_resources
from pipeline_defs.seed import files_for_day

DAY = date(2026, 11, 20)
ALL_ASSETS = [*raw_assets, *validated_assets, *warehouse_assets]


def put(settings, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)


def run_day(settings, day: date = DAY, selection=None):
    result = materialize(ALL_ASSETS, partition_key=day.isoformat(), resources=build_resources(settings),
                         selection=selection, raise_on_error=True)
    assert result.success
    return result


def query(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def lake_rows(settings, table: str, day: date = DAY) -> list[dict]:
    s3 = boto3.client("s3")
    rows = []
    listing = s3.list_objects_v2(Bucket=settings.names.processed_bucket, Prefix=f"{table}/dt={day.isoformat()}/")
    for obj in listing.get("Contents", []):
        body = s3.get_object(Bucket=settings.names.processed_bucket, Key=obj["Key"])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def customer(n: int, **overrides) -> dict:
    row = {"customer_id": f"C{n}", "email": f"User{n}@Example.COM", "first_name": "Ada", "last_name": "L",
           "segment": "smb", "country": "gb", "signup_date": "2026-01-02", "updated_at": "2026-11-20T10:00:00Z"}
    row.update(overrides)
    return row


def test_customers_envelope_loads_with_normalisation_and_quarantine(pipeline_env, database_url):
    rows = [customer(1), customer(2, email="not-an-email"), customer(3, country="XX"), customer(4, favourite="tea")]
    put(pipeline_env, "crm/customers/dt=2026-11-20/batch.json", json.dumps({"data": rows}).encode())
    run_day(pipeline_env)

    loaded = query(database_url, "SELECT customer_id, email, country, extra FROM warehouse.customers ORDER BY 1")
    assert [(r[0], r[1], r[2]) for r in loaded] == [("C1", "user1@example.com", "GB"), ("C4", "user4@example.com", "GB")]
    assert loaded[1][3] == {"favourite": "tea"}
    reasons = query(database_url, "SELECT row_number, reason FROM ops.quarantine WHERE dataset='customers' ORDER BY 1")
    assert reasons == [(1, "invalid:email"), (2, "invalid:country")]
    audit = query(database_url, "SELECT rows_in, rows_loaded, rows_quarantined, status FROM ops.load_audit")
    assert audit == [(4, 2, 2, "loaded")]
    assert {r["customer_id"] for r in lake_rows(pipeline_env, "customers")} == {"C1", "C4"}
    rejects = boto3.client("s3").get_object(Bucket=pipeline_env.names.quarantine_bucket,
                                            Key="customers/dt=2026-11-20/rejects.jsonl")["Body"].read().decode()
    assert [json.loads(line)["reason"] for line in rejects.splitlines()] == ["invalid:email", "invalid:country"]


def test_seeded_day_every_dataset_balances(pipeline_env, database_url):
    for key, body in files_for_day(DAY, 0).items():
        put(pipeline_env, key, body)
    run_day(pipeline_env)
    for dataset, table in [("customers", "customers"), ("products", "products"), ("orders", "orders"),
                           ("web_events", "web_events"), ("market_ticks", "market_ticks")]:
        (rows_in, loaded, quarantined), = query(
            database_url, "SELECT sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.load_audit"
                          " WHERE dataset = %s", dataset)
        assert rows_in == loaded + quarantined and rows_in > 0, dataset
        in_table, = query(database_url, f"SELECT count(*) FROM warehouse.{table} WHERE _partition = %s", DAY)[0]
        assert in_table == loaded, dataset
        assert len(lake_rows(pipeline_env, table)) == loaded, dataset
    items, = query(database_url, "SELECT count(*) FROM warehouse.order_items")[0]
    assert items > 300


def test_rematerialising_three_times_gives_identical_results(pipeline_env, database_url):
    for key, body in files_for_day(DAY, 0).items():
        put(pipeline_env, key, body)

    def snapshot():
        s3 = boto3.client("s3")
        lake = sorted((o["Key"], o["ETag"]) for o in s3.list_objects_v2(
            Bucket=pipeline_env.names.processed_bucket).get("Contents", []))
        tables = {t: query(database_url, f"SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM warehouse.{t} x")
                  for t in ("customers", "products", "orders", "order_items", "web_events", "market_ticks")}
        quarantine = query(database_url, "SELECT dataset, source_key, row_number, reason FROM ops.quarantine ORDER BY 1, 2, 3")
        audit = query(database_url, "SELECT dataset, source_key, rows_in, rows_loaded, rows_quarantined"
                                    " FROM ops.load_audit ORDER BY 1, 2")
        return lake, tables, quarantine, audit

    snapshots = []
    for _ in range(3):
        run_day(pipeline_env)
        snapshots.append(snapshot())
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert snapshots[0][2], "the seeded day should have quarantined rows"


def test_backfill_of_three_days_and_later_updated_at_wins(pipeline_env, database_url):
    days = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    for day in days:
        stamp = f"{day.isoformat()}T12:00:00Z"
        put(pipeline_env, f"crm/customers/dt={day.isoformat()}/c.json",
            json.dumps([customer(1, city=f"city-{day.day}", updated_at=stamp), customer(100 + day.day)]).encode())
    for day in reversed(days):  # out of order on purpose: the latest updated_at must still win
        run_day(pipeline_env, day, selection=[AssetKey(["raw", "customers"]), AssetKey(["validated", "customers"]),
                                              AssetKey(["warehouse", "customers"])])
    assert query(database_url, "SELECT city FROM warehouse.customers WHERE customer_id = 'C1'") == [("city-20",)]
    assert query(database_url, "SELECT count(*) FROM warehouse.customers")[0][0] == 4
    assert query(database_url, "SELECT count(DISTINCT partition_date) FROM ops.load_audit")[0][0] == 3


def test_duplicates_within_a_day_keep_the_latest_and_quarantine_the_rest(pipeline_env, database_url):
    rows = [customer(1, city="old", updated_at="2026-11-20T09:00:00Z"),
            customer(1, city="new", updated_at="2026-11-20T11:00:00Z"),
            customer(1, city="older", updated_at="2026-11-20T08:00:00Z")]
    put(pipeline_env, "crm/customers/dt=2026-11-20/dupes.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    run_day(pipeline_env)
    assert query(database_url, "SELECT city FROM warehouse.customers") == [("new",)]
    assert query(database_url, "SELECT row_number, reason FROM ops.quarantine ORDER BY 1") == [
        (0, "duplicate:key"), (2, "duplicate:key")]
    assert query(database_url, "SELECT rows_in, rows_loaded, rows_quarantined FROM ops.load_audit") == [(3, 1, 2)]


@pytest.mark.parametrize("name, body, reason", [
    ("truncated.json", b'[{"customer_id": "C1", "email": "a@b.co"', "malformed:json"),
    ("latin1.csv", "customer_id,email,country,signup_date\nC1,caf\xe9@b.co,FR,2026-01-01\n".encode("latin-1"),
     "encoding:not_utf8"),
    ("empty.json", b"", "empty_file"),
    ("header.csv", b"customer_id,email,country,signup_date\r\n", "header_only"),
])
def test_bad_files_are_quarantined_not_crashed_on(pipeline_env, database_url, name, body, reason):
    put(pipeline_env, f"crm/customers/dt=2026-11-20/{name}", body)
    put(pipeline_env, "crm/customers/dt=2026-11-20/good.json", json.dumps([customer(9)]).encode())
    run_day(pipeline_env)
    assert query(database_url, "SELECT customer_id FROM warehouse.customers") == [("C9",)]
    audit = dict((k, (s, r)) for k, s, r in query(database_url, "SELECT source_key, status, reason FROM ops.load_audit"))
    assert audit[f"crm/customers/dt=2026-11-20/{name}"] == ("quarantined", reason)
    copied = boto3.client("s3").list_objects_v2(Bucket=pipeline_env.names.quarantine_bucket,
                                                Prefix="customers/dt=2026-11-20/files/")
    assert [o["Key"].rsplit("/", 1)[-1] for o in copied.get("Contents", [])] == [
        f"crm__customers__dt=2026-11-20__{name}"]


def test_gzip_jsonl_orders_with_items_and_wrong_types(pipeline_env, database_url):
    orders = [
        {"order_id": "O1", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00+01:00", "status": "paid",
         "currency": "EUR", "channel": "web", "total_amount": 25.0,
         "items": [{"sku": "S1", "quantity": 2, "unit_price": 10}, {"sku": "S2", "quantity": 1, "unit_price": 5}]},
        {"order_id": "O2", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00Z", "status": "paid",
         "currency": "EUR", "total_amount": 99, "items": [{"sku": "S1", "quantity": 1, "unit_price": 10}]},
        {"order_id": "O3", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00Z", "status": "paid",
         "currency": "EUR", "total_amount": "ten", "items": [{"sku": "S1", "quantity": 1, "unit_price": 10}]},
    ]
    body = gzip.compress("\n".join(json.dumps(o) for o in orders).encode())
    put(pipeline_env, "erp/orders/dt=2026-11-20/o.jsonl.gz", body)
    run_day(pipeline_env)
    assert query(database_url, "SELECT order_id, total_amount::text FROM warehouse.orders") == [("O1", "25.0000")]
    assert query(database_url, "SELECT order_id, line_no, sku, quantity FROM warehouse.order_items ORDER BY 2") == [
        ("O1", 1, "S1", 2), ("O1", 2, "S2", 1)]
    assert dict(query(database_url, "SELECT row_number, reason FROM ops.quarantine")) == {
        1: "total_mismatch", 2: "invalid:total_amount"}


def test_an_older_reupload_loses_the_merge_and_the_lake_keeps_the_winners(pipeline_env, database_url, capsys):
    key = "crm/customers/dt=2026-11-20/c.json"
    put(pipeline_env, key, json.dumps([customer(n) for n in range(1, 1001)]).encode())
    run_day(pipeline_env)
    older = [customer(n, updated_at="2026-11-19T10:00:00Z") for n in range(1, 1001)]
    older[0]["email"] = "user1v2@example.com"
    put(pipeline_env, key, json.dumps(older).encode())
    result = run_day(pipeline_env)

    assert query(database_url, "SELECT email FROM warehouse.customers WHERE customer_id = 'C1'") == [
        ("user1@example.com",)]
    lake = {r["customer_id"]: r for r in lake_rows(pipeline_env, "customers")}
    assert len(lake) == 1000 and lake["C1"]["email"] == "user1@example.com"
    assert str(lake["C1"]["updated_at"]) == "2026-11-20 10:00:00+00:00"
    assert query(database_url, "SELECT rows_in, rows_loaded, rows_quarantined, rows_inserted, rows_updated,"
                               " rows_unchanged, rows_superseded FROM ops.load_audit") == [(1000, 1000, 0, 0, 0, 0, 1000)]
    metadata = result.asset_materializations_for_node("warehouse_customers")[0].metadata
    assert (metadata["inserted"].value, metadata["updated"].value, metadata["superseded_by_newer"].value) == (0, 0, 1000)
    assert f"| `{key}` |" in metadata["per_file"].value

    from pipeline_defs.cli import main
    assert main(["status", "files", "--dataset", "customers", "--date", "2026-11-20"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split()[3:10] == ["in", "loaded", "quar.", "inserted", "updated", "same", "older"]
    assert line.split()[:10] == ["loaded", "customers", "2026-11-20", "1000", "1000", "0", "0", "0", "0", "1000"]


def test_a_key_overwritten_after_listing_is_loaded_and_recorded_as_the_listed_version(pipeline_env, database_url,
                                                                                     monkeypatch):
    import assets.validated as validated_module
    from pipeline_defs.state import get_states

    key = "crm/customers/dt=2026-11-20/c.json"
    s3 = boto3.client("s3")
    listed = s3.put_object(Bucket=pipeline_env.names.raw_bucket, Key=key, Body=json.dumps([customer(1)]).encode())
    real_listing = validated_module.list_partition_files

    def listing_then_overwrite(*args):
        files = real_listing(*args)
        put(pipeline_env, key, json.dumps([customer(1, city="later"), customer(2)]).encode())
        return files

    monkeypatch.setattr(validated_module, "list_partition_files", listing_then_overwrite)
    run_day(pipeline_env, selection=[AssetKey(["validated", "customers"]), AssetKey(["warehouse", "customers"])])

    assert query(database_url, "SELECT customer_id, city FROM warehouse.customers") == [("C1", None)]
    assert query(database_url, "SELECT etag, version_id, rows_in FROM ops.load_audit") == [
        (listed["ETag"].strip('"'), listed["VersionId"], 1)]
    state = get_states(boto3.client("dynamodb"), pipeline_env.names.state_table, [key])[key]
    assert (state.etag, state.version_id, state.rows_inserted) == (listed["ETag"].strip('"'), listed["VersionId"], 1)
