"""Fixtures for the analytics API tests: a seeded warehouse (loaded once through the real Dagster
assets, then cloned per test), moto, the read-only login, and a client that sends API-Gateway-shaped
events to ``infra/functions/analytics/handler.py`` loaded by file path, as the local gateway does.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import boto3
import psycopg
import pytest
from dagster import materialize

from pipeline_defs import settings as settings_module
from pipeline_defs.local.analytics import ensure_readonly_login, readonly_secret_id
from pipeline_defs.local.provision import provision
from pipeline_defs.seed import files_for_day
from pipeline_defs.settings import load_settings

HANDLER_FILE = Path(__file__).resolve().parents[2] / "infra" / "functions" / "analytics" / "handler.py"
SEED_DAYS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
SEEDED_TEMPLATE = "analytics_seeded_template"


def load_handler():
    """The handler module, loaded by path once per process (like the gateway)."""
    name = "analytics_function_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HANDLER_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _aws_env(monkeypatch, moto_url: str) -> None:
    import requests

    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()


@pytest.fixture(scope="session")
def seeded_template(pg_server_url, migrated_template, moto_server):
    """A database holding three seeded days, loaded through raw → validated → warehouse → sales rollups."""
    from assets.analytics import sales_rollups
    from assets.raw import raw_assets
    from assets.validated import validated_assets
    from assets.warehouse import warehouse_assets
    from pipeline_defs.resources import build_resources

    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SEEDED_TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SEEDED_TEMPLATE}" TEMPLATE "{migrated_template}"')
    url = pg_server_url.rsplit("/", 1)[0] + f"/{SEEDED_TEMPLATE}"
    with pytest.MonkeyPatch.context() as mp:
        _aws_env(mp, moto_server)
        mp.setenv("PIPELINE_DATABASE_URL", url)
        settings_module.get_settings.cache_clear()
        settings = load_settings()
        provision(settings)
        s3 = boto3.client("s3")
        for index, day in enumerate(SEED_DAYS):
            for key, body in files_for_day(day, index).items():
                s3.put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)
        for day in SEED_DAYS:
            result = materialize([*raw_assets, *validated_assets, *warehouse_assets, sales_rollups],
                                 partition_key=day.isoformat(), resources=build_resources(settings), raise_on_error=True)
            assert result.success
        lake = {o["Key"]: s3.get_object(Bucket=settings.names.processed_bucket, Key=o["Key"])["Body"].read()
                for o in s3.list_objects_v2(Bucket=settings.names.processed_bucket).get("Contents", [])}
        states = boto3.client("dynamodb").scan(TableName=settings.names.state_table)["Items"]
    settings_module.get_settings.cache_clear()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:  # pooled connections of the run's resources
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                     " AND pid <> pg_backend_pid()", (SEEDED_TEMPLATE,))
    return {"name": SEEDED_TEMPLATE, "lake": lake, "states": states}


class Api:
    """Sends REST-proxy events to the handler; answers (status, headers, parsed JSON body)."""

    def __init__(self, handler, settings, database_url: str):
        self.handler, self.settings, self.database_url = handler, settings, database_url

    def call(self, method: str, path: str, query: dict | None = None, body: str | None = None,
             headers: dict | None = None):
        event = {
            "resource": path, "path": path, "httpMethod": method,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "multiValueHeaders": {}, "queryStringParameters": {k: str(v) for k, v in (query or {}).items()} or None,
            "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": {"resourcePath": path, "httpMethod": method, "path": f"/v1{path}", "stage": "v1",
                               "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1"}},
            "body": body, "isBase64Encoded": False,
        }
        answer = self.handler.handler(event, None)
        parsed = json.loads(answer["body"]) if answer.get("body") else None
        headers = {**(answer.get("headers") or {}),
                   **{k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items() if v}}
        return answer["statusCode"], headers, parsed

    def get(self, operation: str | None = None, **params):
        query = {**({"operation": operation} if operation is not None else {}), **params}
        return self.call("GET", "/analytics", query)

    def post(self, payload, query: dict | None = None):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.call("POST", "/analytics", query, body)

    def event(self, detail: dict, detail_type: str = "PartitionLoaded"):
        return self.handler.handler({"version": "0", "id": str(uuid.uuid4()), "source": "data-pipeline",
                                     "detail-type": detail_type, "account": "123456789012",
                                     "time": "2026-11-20T00:00:00Z", "region": "us-east-1", "resources": [],
                                     "detail": detail}, None)


def _clone(pg_server_url: str, template: str) -> str:
    name = f"a_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop(pg_server_url: str, name: str) -> None:
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _api(monkeypatch, moto_url: str, database_url: str, lake: dict | None = None, states: list | None = None) -> Api:
    _aws_env(monkeypatch, moto_url)
    monkeypatch.delenv("PIPELINE_ANALYTICS_DATABASE_URL", raising=False)
    monkeypatch.delenv("PIPELINE_DATABASE_URL", raising=False)
    settings = load_settings()
    provision(settings)
    if lake:
        s3 = boto3.client("s3")
        for key, body in lake.items():
            s3.put_object(Bucket=settings.names.processed_bucket, Key=key, Body=body)
    for item in states or []:
        boto3.client("dynamodb").put_item(TableName=settings.names.state_table, Item=item)
    ensure_readonly_login(database_url, settings)
    monkeypatch.setenv("PIPELINE_ANALYTICS_DB_SECRET_ID", readonly_secret_id(settings))
    handler = load_handler()
    handler.reset_runtime()
    return Api(handler, settings, database_url)


@pytest.fixture
def seeded_api(pg_server_url, seeded_template, moto_server, monkeypatch):
    """The API over a private copy of the seeded warehouse (lake and processing state restored in moto)."""
    name = _clone(pg_server_url, seeded_template["name"])
    url = pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    api = _api(monkeypatch, moto_server, url, seeded_template["lake"], seeded_template["states"])
    yield api
    api.handler.reset_runtime()
    _drop(pg_server_url, name)


@pytest.fixture
def empty_api(database_url, moto_server, monkeypatch):
    """The API over a freshly migrated, empty warehouse (tests insert precise rows)."""
    api = _api(monkeypatch, moto_server, database_url)
    yield api
    api.handler.reset_runtime()


def sql(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params or ()).fetchall()


def execute(url: str, query: str, params=None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params or ())


def rebuild_rollups(url: str) -> None:
    from pipeline_defs.rollups import rebuild

    with psycopg.connect(url) as conn:
        rebuild(conn)


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
