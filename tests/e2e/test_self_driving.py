"""Derived data converges by itself, late data included: three days are uploaded, their reports
published by a run of the daily-report job, then a late file for the oldest day arrives — and with
nobody materialising anything the warehouse, the sales rollups, the duplicate pairs, the aggregates
and a revised report follow, while the analytics API answers what a recomputation from the warehouse
gives. Real processes: `pipeline local up`, the sensor and automation daemons, the gateway."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.rollups import REVENUE_STATUSES, ROLLUP_TABLES, rebuild
from pipeline_defs.seed import files_for_day
from tests.e2e.conftest import running_stack, sql, wait_for
from tests.e2e.test_walkthrough import backfill_done, graphql, launch_backfill

pytestmark = pytest.mark.e2e

DAYS = ["2026-10-06", "2026-10-07", "2026-10-08"]
OLDEST = DAYS[0]
SEEDED = ("crm/customers/", "catalog/products/", "erp/orders/")  # what the sales rollups read
LIVE_SQL = Path(__file__).resolve().parents[2] / "infra" / "functions" / "analytics" / "analytics_api" / "sql"
ACTIVE_RUNS = """
query { runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
  ... on Runs { results { runId jobName } } } }"""
AUTOMATION_RUNS = """
query { runsOrError(filter: {tags: [{key: "pipeline/trigger", value: "automation"}]}) {
  ... on Runs { results { runId assetSelection { path } tags { key value } } } } }"""
FAILED_RUNS = """
query { runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId jobName tags { key value } } } } }"""


def aws(stack, service: str):
    return boto3.client(service, endpoint_url=stack["AWS_ENDPOINT_URL"], region_name=stack["AWS_REGION"],
                        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])


def upload(stack, folder: Path) -> None:
    copy = subprocess.run(["aws", "s3", "cp", "--recursive", str(folder), f"s3://{stack['PIPELINE_RAW_BUCKET']}/"],
                          env=stack, capture_output=True, text=True, timeout=120)
    assert copy.returncode == 0, copy.stderr


def settled(stack, quiet_polls: int = 3) -> bool:
    """No run queued or running over several polls spanning more than a tick of every sensor."""
    for _ in range(quiet_polls):
        if graphql(stack, ACTIVE_RUNS)["runsOrError"]["results"]:
            return False
        time.sleep(8)
    return True


def report_history(stack, day: str) -> dict | None:
    item = aws(stack, "dynamodb").get_item(TableName=stack["PIPELINE_STATE_TABLE"],
                                           Key={"pk": {"S": "report"}, "sk": {"S": day}}).get("Item")
    return item


def aggregate_items(stack, name: str, day: str) -> dict[str, dict]:
    items = aws(stack, "dynamodb").query(
        TableName=stack["PIPELINE_AGGREGATES_TABLE"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{name}#{day}"}})["Items"]
    return {i["sk"]["S"]: i for i in items}


def inbox(stack, name: str) -> list[dict]:
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=f"{name}-inbox")["QueueUrl"]
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def analytics(stack, operation: str, **parameters) -> dict:
    response = requests.post(f"{stack['PIPELINE_API_URL']}/analytics",
                             json={"operation": operation, "parameters": parameters}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def live(stack, name: str, params: dict) -> list[dict]:
    """The API's own from-the-warehouse SQL (used when there are no rollups), run directly."""
    with psycopg.connect(stack["PIPELINE_DATABASE_URL"], row_factory=dict_row) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return plain(conn.execute((LIVE_SQL / f"{name}.sql").read_text(), params).fetchall())


def rollups_equal_a_rebuild(stack) -> dict[str, tuple[int, int]]:
    """Per rollup table, (rows now, rows after `rollups.rebuild`) where their contents differ; the
    rebuild runs in a transaction that is rolled back."""
    def snapshot(conn) -> dict[str, tuple[int, str]]:
        return {t: conn.execute(f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
                                f" FROM analytics.{t} r").fetchone() for t in ROLLUP_TABLES}

    with psycopg.connect(stack["PIPELINE_DATABASE_URL"]) as conn:
        now = snapshot(conn)
        rebuild(conn)
        rebuilt = snapshot(conn)
        conn.rollback()
    return {t: (now[t][0], rebuilt[t][0]) for t in ROLLUP_TABLES if now[t] != rebuilt[t]}


@pytest.fixture(scope="module")
def stack():
    """A stack of its own: this test counts every run the daemon starts, and its days and runs must
    not mix with the walkthrough's (the shared stack of tests/e2e/conftest.py)."""
    with running_stack("pipeline-selfdriving-") as env:
        yield env


def test_a_late_file_for_a_published_day_flows_through_by_itself(stack, tmp_path):
    wait_for(lambda: settled(stack), timeout=900, interval=5, what="runs of earlier tests to finish")

    # --- three days of customers, products and orders, uploaded; loads start by themselves ---
    seeded = tmp_path / "seed"
    for index, day in enumerate(DAYS):
        for key, body in files_for_day(date.fromisoformat(day), index).items():
            if key.startswith(SEEDED):
                (seeded / key).parent.mkdir(parents=True, exist_ok=True)
                (seeded / key).write_bytes(body)
    upload(stack, seeded)
    started = time.monotonic()
    loaded = "SELECT count(DISTINCT source_key) FROM ops.load_audit WHERE partition_date = ANY(%s::date[])"
    wait_for(lambda: sql(stack, loaded, DAYS) == [(9,)], timeout=900, interval=5, what="the 9 seeded files to load")

    # automation (not a person) refreshes the rollups and aggregates of every loaded day; the
    # reports are not published by it: their first publication is the 08:00 schedule's job
    def derived():
        days = {d.isoformat() for (d,) in sql(stack, "SELECT DISTINCT day FROM analytics.order_facts"
                                                     " WHERE day = ANY(%s::date[])", DAYS)}
        return days == set(DAYS) and all(aggregate_items(stack, "orders", d) for d in DAYS) and settled(stack)

    wait_for(derived, timeout=600, interval=5, what="rollups and aggregates of the seeded days, by automation")
    print(f"seeded days loaded and derived after {time.monotonic() - started:.0f} s")
    assert all(report_history(stack, d) is None for d in DAYS)

    # --- the reports of the three days, published by the daily-report job (as the schedule does) ---
    report_job = [["aggregates", n] for n in AGGREGATES] + [["reports", "daily_report"]]
    backfill_id = launch_backfill(stack, report_job, DAYS)
    wait_for(lambda: backfill_done(stack, backfill_id), timeout=600, interval=5, what="the reports' publication")
    wait_for(lambda: settled(stack), timeout=300, interval=5, what="quiet after publishing")
    revisions = {d: int(report_history(stack, d)["revision"]["N"]) for d in DAYS}
    assert revisions == {d: 1 for d in DAYS}, revisions
    inbox(stack, stack["PIPELINE_REPORTS_TOPIC"])  # the first publications' messages
    before = {op: analytics(stack, op, **params) for op, params in
              (("customer_analysis", {}), ("revenue_analysis", {"start_date": DAYS[0], "end_date": DAYS[-1]}))}

    # --- a late file for the oldest day: a near-duplicate customer and three orders of theirs ---
    twin = sql(stack, "SELECT first_name, last_name, email, country, segment, signup_date::text"
                      " FROM warehouse.customers WHERE _partition = %s ORDER BY customer_id LIMIT 1", OLDEST)[0]
    first, last, email, country, segment, signup = twin
    late = tmp_path / "late"
    (late / f"crm/customers/dt={OLDEST}").mkdir(parents=True)
    (late / f"crm/customers/dt={OLDEST}/late.json").write_text(json.dumps([{
        "customer_id": "CLATE-1", "email": email.split("@")[0] + "@late.example", "first_name": first,
        "last_name": last, "country": country, "segment": segment, "signup_date": signup}]))
    (late / f"erp/orders/dt={OLDEST}").mkdir(parents=True)
    (late / f"erp/orders/dt={OLDEST}/late.jsonl").write_text("\n".join(json.dumps({
        "order_id": f"LATE-{n}", "customer_id": "CLATE-1", "order_ts": f"{OLDEST}T23:0{n}:00Z", "status": "paid",
        "currency": "USD", "channel": "web", "total_amount": 20.0,
        "items": [{"sku": "SKU-0001", "quantity": 2, "unit_price": 10.0}]}) for n in range(3)))
    upload(stack, late)
    arrived = time.monotonic()

    def revised():
        item = report_history(stack, OLDEST)
        return int(item["revision"]["N"]) > 1 and settled(stack)

    wait_for(revised, timeout=600, interval=5, what="the oldest day's report to be revised by itself")
    print(f"late file to revised report: {time.monotonic() - arrived:.0f} s")

    # the warehouse
    assert sql(stack, "SELECT count(*) FROM warehouse.orders WHERE customer_id = 'CLATE-1' AND _partition = %s",
               OLDEST) == [(3,)]
    # the duplicate pairs: the late customer is matched with their twin
    pairs = sql(stack, "SELECT count(*) FROM analytics.customer_pairs WHERE 'CLATE-1' IN (a, b)")
    assert pairs[0][0] >= 1
    # the rollups: equal to a from-scratch rebuild, and the API's answers equal the warehouse's
    assert rollups_equal_a_rebuild(stack) == {}
    customers = analytics(stack, "customer_analysis")
    assert customers["source"]["kind"] == "rollup"
    assert customers["segments"] == live(stack, "customer_analysis", {
        "min_orders": 1, "segment": None, "country": None, "statuses": list(REVENUE_STATUSES)})
    assert customers["summary"]["orders"] == before["customer_analysis"]["summary"]["orders"] + 3
    revenue = analytics(stack, "revenue_analysis", start_date=DAYS[0], end_date=DAYS[-1])
    assert revenue["source"]["kind"] == "rollup"
    assert revenue["monthly"] == live(stack, "revenue_monthly", {
        "start_date": DAYS[0], "end_date": DAYS[-1], "currency": None, "statuses": list(REVENUE_STATUSES)})
    usd = {t["currency"]: t for t in revenue["totals"]}["USD"]
    usd_before = {t["currency"]: t for t in before["revenue_analysis"]["totals"]}["USD"]
    assert usd["orders"] == usd_before["orders"] + 3 and usd["revenue"] == pytest.approx(usd_before["revenue"] + 60)

    # the aggregates of that day
    day_orders = sql(stack, "SELECT count(*) FROM warehouse.orders WHERE order_ts >= %s::date"
                            " AND order_ts < %s::date", OLDEST, (date.fromisoformat(OLDEST) + timedelta(days=1)).isoformat())
    assert int(aggregate_items(stack, "orders", OLDEST)["total"]["orders"]["N"]) == day_orders[0][0]
    new_customers = sum(int(i["customers"]["N"]) for i in aggregate_items(stack, "new_customers", OLDEST).values())
    assert new_customers == sql(stack, "SELECT count(*) FROM warehouse.customers WHERE _partition = %s", OLDEST)[0][0]

    # the report: a new revision whose figures include the late orders, announced as revised
    revision = int(report_history(stack, OLDEST)["revision"]["N"])
    print(f"the oldest day's report is at revision {revision}")
    figures = json.loads(aws(stack, "s3").get_object(Bucket=stack["PIPELINE_REPORTS_BUCKET"],
                                                      Key=f"reports/{OLDEST}/daily_report.json")["Body"].read())
    assert {k["key"]: k["value"] for k in figures["kpis"]}["orders"] == day_orders[0][0]
    subjects = [m["Subject"] for m in inbox(stack, stack["PIPELINE_REPORTS_TOPIC"])]
    assert f"Daily report {OLDEST} (revised, revision {revision})" in " ".join(subjects), subjects
    assert int(report_history(stack, DAYS[2])["revision"]["N"]) == 1  # a day the late file does not touch

    # automation ran only what was derived: never a warehouse load again (the load jobs did them)
    automated = [r for r in graphql(stack, AUTOMATION_RUNS)["runsOrError"]["results"]
                 if {t["key"]: t["value"] for t in r["tags"]}.get("dagster/partition") in DAYS]
    assert automated and not [r for r in automated if any(k["path"][0] == "warehouse" for k in r["assetSelection"])]

    failed = [r for r in graphql(stack, FAILED_RUNS)["runsOrError"]["results"]
              if {t["key"]: t["value"] for t in r["tags"]}.get("dagster/partition") in DAYS]
    assert failed == [], failed
