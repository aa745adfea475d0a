"""The API around the operations: cache hits, misses and invalidation, large results and downloads,
the read-only role, every error class, the OpenAPI document, and a property-based fuzz."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import psycopg
import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from openapi_spec_validator import validate

from pipeline_defs.local.analytics import deliver_invalidations, ensure_invalidation_rule
from tests.functions.analytics_fixtures import (  # noqa: F401
    HANDLER_FILE, empty_api, execute, load_handler, rebuild_rollups, seeded_api, seeded_template, sql,
)
from assets.warehouse import publish_partition_loaded

OPENAPI = HANDLER_FILE.parent / "openapi.json"


def orders_count(api) -> int:
    return api.get("simple_demo")[2]["data"]["orders"]


def test_second_call_is_served_from_the_cache_until_its_dataset_loads(seeded_api):
    url = seeded_api.database_url
    status, headers, first = seeded_api.get("customer_analysis", min_orders=2)
    assert (status, headers["X-Cache"], first["cached"]) == (200, "MISS", False)
    status, headers, again = seeded_api.post({"operation": "customer_analysis", "parameters": {"min_orders": "2"}})
    assert (headers["X-Cache"], again["cached"]) == ("HIT", True) and again["data"] == first["data"]
    assert "cachedAt" in again

    execute(url, "DELETE FROM warehouse.orders")  # the data changes under the cache...
    rebuild_rollups(url)  # (written by hand, not by a load: the rollups follow only after a rebuild)
    assert seeded_api.get("customer_analysis", min_orders=2)[2]["data"] == first["data"]  # ...still cached
    assert seeded_api.event({"dataset": "web_events", "partition": "2026-11-20"})["invalidated"] == "web_events"
    assert seeded_api.get("customer_analysis", min_orders=2)[2]["cached"] is True  # it does not read web_events
    assert seeded_api.event({"dataset": "orders", "partition": "2026-11-20"}) == {"invalidated": "orders", "version": 1}
    status, headers, fresh = seeded_api.get("customer_analysis", min_orders=2)
    assert (headers["X-Cache"], fresh["data"]["segments"]) == ("MISS", [])
    assert seeded_api.get("customer_analysis", min_orders=2)[2]["cached"] is True
    # the sales rollups' refresh after a load invalidates the same way
    assert seeded_api.event({"dataset": "orders", "partition": "2026-11-20"}, detail_type="AnalyticsRefreshed") == {
        "invalidated": "orders", "version": 2}
    assert seeded_api.get("customer_analysis", min_orders=2)[1]["X-Cache"] == "MISS"


def test_partition_loaded_from_the_warehouse_asset_reaches_the_handler_locally(seeded_api):
    settings = seeded_api.settings
    ensure_invalidation_rule(settings)
    before = orders_count(seeded_api)
    execute(seeded_api.database_url, "DELETE FROM warehouse.orders WHERE _partition = '2026-11-20'")
    assert orders_count(seeded_api) == before  # cached
    # exactly what assets/warehouse.py sends after a load
    publish_partition_loaded(boto3.client("events"), settings.names.event_bus, "orders",
                             __import__("datetime").date(2026, 11, 20), {"orders": 0})
    assert deliver_invalidations(settings, seeded_api.handler.handler) == 1
    assert orders_count(seeded_api) < before


def test_unknown_dataset_events_are_ignored(seeded_api):
    assert seeded_api.event({"dataset": "nope"})["invalidated"] is None
    assert seeded_api.event({})["invalidated"] is None


def test_large_results_go_to_s3_and_download_serves_only_them(seeded_api, monkeypatch):
    monkeypatch.setenv("PIPELINE_ANALYTICS_LARGE_RESULT_BYTES", "2000")
    seeded_api.handler.reset_runtime()
    status, _, body = seeded_api.get("multi_dimensional_analytics", end_date="2026-11-30")
    assert status == 200 and body["largeResult"] is True and body["sizeBytes"] > 2000
    bucket, key = body["s3Url"][len("s3://"):].split("/", 1)
    assert bucket == "pipeline-query-results" and key.startswith("results/")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in body["downloadUrl"]  # SigV4, what AWS expects
    stored = json.loads(requests.get(body["downloadUrl"], timeout=10).content)  # the presigned URL works
    assert stored["operation"] == "multi_dimensional_analytics" and stored["data"]["rows"]
    status, _, via_api = seeded_api.call("GET", body["downloadPath"])
    assert status == 200 and via_api == stored
    assert seeded_api.call("GET", f"/download/{key}")[0] == 200  # the greedy form of the local gateway too

    status, headers, cached = seeded_api.get("multi_dimensional_analytics", end_date="2026-11-30")
    assert headers["X-Cache"] == "HIT" and cached["largeResult"] and cached["s3Url"] == body["s3Url"]

    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="results/2026-01-01-" + "0" * 32 + ".json", Body=b"{}")  # not made by the API
    s3.put_object(Bucket=bucket, Key="secret.json", Body=b"{}")
    for path in ["/download/2026-01-01-" + "0" * 32 + ".json", "/download/secret.json", "/download/..%2Fsecret.json",
                 "/download/results/../secret.json", "/download/2026-01-01-" + "1" * 32 + ".json"]:
        status, _, error = seeded_api.call("GET", path)
        assert (status, error["error"]) == (404, "not_found"), path


def test_the_api_reads_as_the_read_only_role(seeded_api):
    handler = seeded_api.handler
    runtime = __import__("analytics_api.app", fromlist=["runtime"]).runtime()
    with runtime.db.cursor() as cur:
        cur.execute("SELECT session_user AS login, current_user AS role, current_setting('statement_timeout') AS t,"
                    " current_setting('transaction_read_only') AS ro")
        row = cur.fetchone()
        assert (row["login"], row["role"], row["t"], row["ro"]) == ("analytics_ro", "analytics_reader", "15s", "on")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            cur.execute("DELETE FROM warehouse.orders")
    assert handler is not None
    with psycopg.connect(seeded_api.database_url) as conn:
        secret = json.loads(boto3.client("secretsmanager").get_secret_value(
            SecretId="pipeline/database-readonly")["SecretString"])
        assert secret["username"] == "analytics_ro" and secret["password"] not in HANDLER_FILE.read_text()
        conn.execute("SET ROLE analytics_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO ops.quarantine VALUES ('x', '2026-01-01', 'k', 1, 'r', NULL, NULL)")


@pytest.mark.parametrize("request_args, code", [
    (("POST", "/analytics", None, "{not json"), "malformed_json"),
    (("POST", "/analytics", None, "[1, 2]"), "invalid_request"),
    (("POST", "/analytics", None, '{"operation": "simple_demo", "sql": "DROP TABLE x"}'), "invalid_request"),
    (("POST", "/analytics", None, '{"operation": "custom_complex_query", "parameters": {"query": "SELECT 1"}}'),
     "unknown_operation"),
    (("GET", "/analytics", {"operation": "custom_complex_query"}, None), "unknown_operation"),
    (("GET", "/analytics", None, None), "missing_operation"),
    (("GET", "/analytics", {"operation": "customer_analysis", "min_orders": "two"}, None), "invalid_parameter"),
    (("GET", "/analytics", {"operation": "customer_analysis", "min_orders": "0"}, None), "invalid_parameter"),
    (("GET", "/analytics", {"operation": "customer_analysis", "country": "XX"}, None), "invalid_parameter"),
    (("GET", "/analytics", {"operation": "revenue_analysis", "start_date": "2026-02-30"}, None), "invalid_parameter"),
    (("GET", "/analytics", {"operation": "revenue_analysis", "start_date": "2026-12-01", "end_date": "2026-01-01"},
      None), "invalid_parameter"),
    (("GET", "/analytics", {"operation": "multi_dimensional_analytics", "timeframe": "1; DROP TABLE x"}, None),
     "invalid_parameter"),
    (("GET", "/analytics", {"operation": "simple_demo", "limit": "5"}, None), "unknown_parameter"),
    (("POST", "/analytics", None, '{"operation": "referral_network", "parameters": {"max_depth": 1.5}}'),
     "invalid_parameter"),
])
def test_bad_requests_get_a_400_with_a_code_and_message(empty_api, request_args, code):
    status, _, body = empty_api.call(*request_args)
    assert status == 400 and body["error"] == code and body["message"]
    assert "Traceback" not in json.dumps(body)


@pytest.mark.parametrize("body", [b'{"operation": "caf\xe9"}', b"\xff\xfe" + '{"operation": "x"}'.encode("utf-16-le")],
                         ids=["latin-1", "utf-16"])
def test_a_body_that_is_not_utf8_is_a_400_not_a_500(empty_api, body):
    """The gateway passes such a body base64-encoded, as API Gateway does; Powertools' decoded_body raised."""
    from pipeline_defs.local.gateway import Gateway

    status, _, data = Gateway().handle("POST", "/analytics", [("Content-Type", "application/json")], body, "127.0.0.1")
    assert (status, json.loads(data)) == (400, {"error": "malformed_json", "message": "the body is not UTF-8 text"})
    status, _, answer = empty_api.call("POST", "/analytics", body="[" * 30_000 + "]" * 30_000)
    assert status == 400 and answer["error"] == "malformed_json"  # nested too deeply for the parser


def test_unknown_routes_are_404(empty_api):
    assert empty_api.call("GET", "/nope")[0] == 404


def test_database_unreachable_is_503_without_internals(empty_api, monkeypatch):
    secret = json.dumps({"username": "analytics_ro", "password": "pw", "host": "127.0.0.1", "port": 1, "dbname": "x"})
    boto3.client("secretsmanager").put_secret_value(SecretId="pipeline/database-readonly", SecretString=secret)
    empty_api.handler.reset_runtime()
    for status, _, body in (empty_api.get("simple_demo"), empty_api.call("GET", "/health")):
        assert status == 503 and body["error"] == "database_unavailable"
        assert "127.0.0.1" not in body["message"] and "pw" not in body["message"]


def test_statement_timeout_is_503_query_timeout(empty_api, monkeypatch):
    monkeypatch.setenv("PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS", "100")
    execute(empty_api.database_url, """INSERT INTO warehouse.web_events (event_id, event_type, user_id, occurred_at,
                                                                         _source_key, _partition)
        SELECT 'e' || n, 'click', 'u', '2026-01-01'::timestamptz + n * interval '1 second', 't', '2026-01-01'
        FROM generate_series(1, 2000000) n""")
    empty_api.handler.reset_runtime()
    status, _, body = empty_api.get("time_series_patterns", start_date="2025-02-01", end_date="2026-01-31")
    assert (status, body["error"]) == (503, "query_timeout")
    assert empty_api.get("simple_demo")[0] == 200  # the connection survives a cancelled statement


def test_health(empty_api):
    status, _, body = empty_api.call("GET", "/health")
    assert status == 200 and body["database"] == "ok" and "customer_analysis" in body["operations"]


def test_openapi_document_matches_the_handler():
    load_handler()
    from analytics_api.openapi import render

    document = json.loads(OPENAPI.read_text())
    validate(document)
    assert OPENAPI.read_text() == render(), "regenerate: cd infra/functions/analytics && python -m analytics_api.openapi > openapi.json"
    from analytics_api.registry import OPERATIONS

    assert document["components"]["schemas"]["Request"]["properties"]["operation"]["enum"] == sorted(OPERATIONS)


def _fuzz_values():
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                       st.text(max_size=30), st.sampled_from(["2026-11-20", "12 months", "0", "-1", "GB", "usd",
                                                              "1e999", "nan", "9999-99-99", "smb", "page_view"]))
    return st.dictionaries(st.sampled_from(["min_orders", "start_date", "end_date", "top_n", "timeframe", "currency",
                                            "country", "segment", "max_depth", "event_type", "z_threshold",
                                            "name_similarity", "email_similarity", "x"]), scalar, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operation=st.one_of(st.sampled_from(sorted(
           ["database_info", "customer_analysis", "revenue_analysis", "multi_dimensional_analytics",
            "data_integrity_analysis", "referral_network", "time_series_patterns", "simple_demo"])), st.text(max_size=20)),
       parameters=_fuzz_values(), as_get=st.booleans(), raw_body=st.one_of(st.none(), st.text(max_size=40)))
def test_fuzz_never_5xx_and_never_changes_data(seeded_api, operation, parameters, as_get, raw_body):
    url = seeded_api.database_url
    before = sql(url, "SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM warehouse.orders x")
    if raw_body is not None:
        status, _, body = seeded_api.call("POST", "/analytics", None, raw_body)
    elif as_get:
        query = {"operation": operation, **{k: "" if v is None else str(v) for k, v in parameters.items()}}
        status, _, body = seeded_api.call("GET", "/analytics", query)
    else:
        status, _, body = seeded_api.post({"operation": operation, "parameters": parameters})
    assert status in (200, 400), body
    if status == 400:
        assert set(body) >= {"error", "message"}
    assert sql(url, "SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM warehouse.orders x") == before


def test_through_the_local_gateway(seeded_api, monkeypatch):
    from pipeline_defs.local.gateway import Gateway

    monkeypatch.setenv("PIPELINE_ANALYTICS_LARGE_RESULT_BYTES", "2000")
    gateway = Gateway()
    headers = [("Content-Type", "application/json")]
    gateway.function("analytics").module.reset_runtime()
    status, _, body = gateway.handle("GET", "/analytics?operation=customer_analysis&min_orders=1", headers, b"", "127.0.0.1")
    assert status == 200 and json.loads(body)["largeResult"] is True
    answer = json.loads(body)
    status, _, stored = gateway.handle("GET", answer["downloadPath"], headers, b"", "127.0.0.1")
    assert status == 200 and json.loads(stored)["data"]["segments"]
    status, _, error = gateway.handle("POST", "/analytics", headers, b'{"operation": "nope"}', "127.0.0.1")
    assert status == 400 and json.loads(error)["error"] == "unknown_operation"


def test_function_config_uses_the_settings_names_and_defaults():
    load_handler()
    from analytics_api import config

    from pipeline_defs.settings import RESOURCE_ENV, ResourceNames

    defaults = config.Config()
    for var, attr in config._NAMES.items():
        if var in RESOURCE_ENV and var != "PIPELINE_DB_SECRET_ID":  # no default: used only when set
            assert getattr(defaults, attr) == getattr(ResourceNames(), RESOURCE_ENV[var]), var
    assert config.load({"PIPELINE_CACHE_TABLE": "t1"}).cache_table == "t1"
    with pytest.raises(config.ConfigError):
        config.load({"PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS": "soon"})


@pytest.mark.parametrize("rows, groups", [(0, 1000), (1, 1000), (123_457, 10_000)])
def test_parquet_row_counts_from_footers_match_pyarrow(rows, groups):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    load_handler()
    from analytics_api.parquet_footer import num_rows

    table = pa.table({"id": pa.array(range(rows), pa.int64()), "name": pa.array([f"n{i}" for i in range(rows)]),
                      "flag": pa.array([i % 2 == 0 for i in range(rows)]),
                      "props": pa.array([{"k": i} for i in range(rows)], pa.struct([("k", pa.int64())]))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=groups)
    data = buffer.getvalue()
    length = int.from_bytes(data[-8:-4], "little")
    assert num_rows(data[-8 - length:-8]) == pq.ParquetFile(io.BytesIO(data)).metadata.num_rows == rows


def test_the_runtime_shares_one_client_per_service(seeded_api):
    """A warm function must not build boto3 sessions per request (each re-reads botocore's models)."""
    from analytics_api.app import runtime as runtime_of  # the handler put the function's folder on sys.path

    seeded_api.get("simple_demo")
    runtime = runtime_of()
    assert runtime.client("s3") is runtime.client("s3")
    assert runtime.client("dynamodb") is runtime.client("dynamodb")
    assert runtime.client("s3") is not runtime.client("dynamodb")


def test_parquet_keys_lists_only_the_range_in_one_listing_per_table(seeded_api):
    from datetime import date

    from analytics_api.app import runtime as runtime_of

    seeded_api.get("simple_demo")
    runtime = runtime_of()
    s3, bucket = runtime.client("s3"), seeded_api.settings.names.processed_bucket
    for key in ("orders/dt=2026-11-21/part-00000.parquet", "orders/dt=2026-11-22/notes.json",
                "orders/dt=junk/part-00000.parquet", "orders/dt=2026-11-23/part-00000.parquet"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    lake = {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix="orders/dt=2026-11-")["Contents"]}
    found = runtime.readers.parquet_keys("orders", date(2026, 11, 19), date(2026, 11, 22))
    assert sorted(found) == [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)]
    for day, keys in found.items():
        folder = f"orders/dt={day.isoformat()}/"
        assert keys == sorted(k for k in lake if k.startswith(folder) and k.endswith(".parquet"))
    assert found[date(2026, 11, 21)] == ["orders/dt=2026-11-21/part-00000.parquet"]
