"""analytics/sales_rollups: after a day's loads the rollups equal a full rebuild, and the API's
cached answers for the rolled-up datasets are invalidated (AnalyticsRefreshed on the bus)."""

from __future__ import annotations

import json
from datetime import date

import boto3
import psycopg
from dagster import AssetKey, materialize

from assets.analytics import analytics_assets
from pipeline_defs.resources import build_resources
from pipeline_defs.rollups import rebuild
from tests.assets.test_aggregates_helpers import BATCH_ASSETS, load_day

DAY = date(2026, 11, 20)


def _sales_daily(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM analytics.sales_daily ORDER BY 1, 2, 3, 4").fetchall()


def test_rollups_follow_the_loads_and_invalidate_the_api(pipeline_env, database_url):
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="analytics-refreshed-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = pipeline_env.names.event_bus
    events.put_rule(Name="analytics-refreshed-test", EventBusName=bus,
                    EventPattern=json.dumps({"detail-type": ["AnalyticsRefreshed"]}))
    events.put_targets(Rule="analytics-refreshed-test", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    load_day(pipeline_env, DAY)
    assert _sales_daily(database_url) == []  # the loads alone do not wait for the rollups
    result = materialize([*BATCH_ASSETS, *analytics_assets], partition_key=DAY.isoformat(),
                         resources=build_resources(pipeline_env), selection=[AssetKey(["analytics", "sales_rollups"])])
    assert result.success
    refreshed = _sales_daily(database_url)
    assert refreshed and sum(row[4] for row in refreshed) > 0  # orders counted
    with psycopg.connect(database_url) as conn:
        rebuild(conn)
        conn.commit()
    assert _sales_daily(database_url) == refreshed  # the incremental refresh equals a full rebuild

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    details = sorted(json.loads(m["Body"])["detail"]["dataset"] for m in messages)
    assert details == ["customers", "orders", "products"]
