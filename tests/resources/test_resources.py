"""The resources are thin: each hands out a working client for moto, and PostgreSQL migrates on first use."""

import psycopg

from pipeline_defs.resources import build_resources
from pipeline_defs.settings import load_settings


def test_aws_resources_talk_to_the_configured_endpoint(provisioned):
    resources = build_resources(load_settings())
    names = provisioned.names
    assert names.raw_bucket in {b["Name"] for b in resources["s3"].get_client().list_buckets()["Buckets"]}
    assert names.state_table in resources["dynamodb"].get_client().list_tables()["TableNames"]
    assert resources["sqs"].get_client().get_queue_url(QueueName=names.uploads_queue)["QueueUrl"]
    assert resources["kinesis"].get_client().describe_stream_summary(StreamName=names.events_stream)
    assert any(t["TopicArn"].endswith(names.alerts_topic) for t in resources["sns"].get_client().list_topics()["Topics"])
    buses = resources["eventbridge"].get_client().list_event_buses()["EventBuses"]
    assert names.event_bus in {b["Name"] for b in buses}


def test_postgres_resource_migrates_and_pools(pg_server_url, aws_env, monkeypatch):
    url = pg_server_url.rsplit("/", 1)[0] + "/resource_test"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "resource_test"')
        admin.execute('CREATE DATABASE "resource_test"')
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    postgres = build_resources(load_settings())["postgres"]
    with postgres.connection() as conn:
        schemas = {row[0] for row in conn.execute("SELECT schema_name FROM information_schema.schemata")}
        conn.rollback()
    assert {"warehouse", "ops", "analytics"} <= schemas
    with postgres.get_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ops.schema_migrations").scalar() >= 3
    postgres.get_engine().dispose()
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "resource_test" WITH (FORCE)')


def test_a_run_shares_one_client_per_service_and_endpoint(provisioned):
    """Building a boto3 session per call re-reads botocore's JSON models: seconds per 1M-row run."""
    first, second = build_resources(load_settings()), build_resources(load_settings())
    assert first["s3"].get_client() is second["s3"].get_client()
    assert first["dynamodb"].get_client() is first["dynamodb"].get_client()
    assert first["s3"].get_client() is not first["dynamodb"].get_client()
    elsewhere = type(first["s3"])(region_name="eu-west-1", endpoint_url=load_settings().aws_endpoint_url)
    assert elsewhere.get_client() is not first["s3"].get_client()
    assert elsewhere.get_client().meta.region_name == "eu-west-1"
