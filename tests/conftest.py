"""Shared fixtures: a real PostgreSQL and a moto server, the same way the local stack gets them.

* PostgreSQL: ``PIPELINE_DATABASE_URL`` when given (CI against an external server), else a private
  cluster in a temporary folder built by :class:`pipeline_defs.local.postgres.LocalPostgres`.
  Each test that asks for ``database_url`` gets a fresh database cloned from a migrated template.
* AWS: one ``ThreadedMotoServer`` per session, reset and re-provisioned for each test that asks.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import uuid

import boto3
import psycopg
import pytest
import requests
from moto.server import ThreadedMotoServer

from pipeline_defs import settings as settings_module
from pipeline_defs.local.postgres import throwaway_cluster
from pipeline_defs.settings import Settings, load_settings

TEMPLATE_DB = "pipeline_test_template"
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def exported(env_output: str) -> dict[str, str]:
    """The variables of `pipeline local env` output (``export NAME=value`` lines)."""
    values = {}
    for line in env_output.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = shlex.split(value)[0] if value else ""
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server_url():
    """A URL to a PostgreSQL server's ``postgres`` database with rights to create databases."""
    external = os.environ.get("PIPELINE_DATABASE_URL")
    if external:
        yield external.rsplit("/", 1)[0] + "/postgres"
        return
    with throwaway_cluster("pipeline-pg-", free_port()) as cluster:
        yield cluster.url("postgres")


def _replace_db(url: str, dbname: str) -> str:
    return url.rsplit("/", 1)[0] + f"/{dbname}"


@pytest.fixture(scope="session")
def migrated_template(pg_server_url):
    from pipeline_defs.migrations import migrate

    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    migrate(_replace_db(pg_server_url, TEMPLATE_DB))
    return TEMPLATE_DB


@pytest.fixture
def database_url(pg_server_url, migrated_template):
    """A fresh, migrated database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _replace_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """A clean moto server, and the process environment pointing boto3 at it."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings_module.get_settings.cache_clear()
    yield moto_server
    settings_module.get_settings.cache_clear()


@pytest.fixture
def provisioned(aws_env) -> Settings:
    """moto with every resource of the design provisioned."""
    from pipeline_defs.local.provision import provision

    settings = load_settings()
    provision(settings, database_secret=None)
    sqs = boto3.client("sqs")  # drop the s3:TestEvent that configuring notifications sends
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=settings.names.uploads_queue)["QueueUrl"])
    return settings


@pytest.fixture
def pipeline_env(provisioned, database_url, monkeypatch) -> Settings:
    """Everything a Dagster run needs: provisioned moto + a migrated database, via the environment."""
    monkeypatch.setenv("PIPELINE_DATABASE_URL", database_url)
    settings_module.get_settings.cache_clear()
    return settings_module.get_settings()
