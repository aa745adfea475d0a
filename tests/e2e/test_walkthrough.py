"""The README walkthrough as a new user does it: seed, backfill three days from Dagster's API, re-run one
partition, then look at PostgreSQL, the Parquet lake with DuckDB, and the UI in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
import duckdb
import pytest
import requests

from tests.e2e.conftest import sql, wait_for

pytestmark = pytest.mark.e2e

DAYS = ["2026-11-16", "2026-11-17", "2026-11-18"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CUSTOMERS_CHAIN = [["raw", "customers"], ["validated", "customers"], ["warehouse", "customers"]]


def graphql(stack, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{stack['PIPELINE_DAGSTER_URL']}/graphql",
                             json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""


def launch_backfill(stack, asset_paths: list[list[str]], partitions: list[str]) -> str:
    data = graphql(stack, BACKFILL, {"params": {
        "assetSelection": [{"path": p} for p in asset_paths], "partitionNames": partitions}})
    result = data["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def backfill_done(stack, backfill_id: str) -> str | None:
    status = graphql(stack, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
    assert status not in ("FAILED", "FAILING", "CANCELED", "COMPLETED_FAILED"), f"backfill {backfill_id}: {status}"
    return status if status in ("COMPLETED_SUCCESS", "COMPLETED") else None


def chromium(url: str, screenshot: Path | None = None) -> str:
    """Render a page in headless Chromium (Debian's package) and return the DOM after scripts ran."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Debian's chromium is needed for the UI checks (`apt-get install chromium`)"
    profile = tempfile.mkdtemp(prefix="chromium-")
    flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1600,1000", "--virtual-time-budget=20000"]
    try:
        if screenshot:
            subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
        return dom.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_backfill_rerun_lake_and_ui(stack):
    seeded = subprocess.run(["pipeline", "seed", "--days", "3", "--end", DAYS[-1]], env=stack,
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr

    backfill_id = launch_backfill(stack, CUSTOMERS_CHAIN, DAYS)
    wait_for(lambda: backfill_done(stack, backfill_id), timeout=900, interval=5, what="the 3-day backfill")
    per_day = dict(sql(stack, "SELECT partition_date::text, sum(rows_loaded) FROM ops.load_audit"
                              " WHERE dataset = 'customers' AND partition_date::text = ANY(%s) GROUP BY 1", DAYS))
    assert sorted(per_day) == DAYS and all(per_day[d] > 0 for d in DAYS)
    before = sql(stack, "SELECT md5(string_agg(c::text, '|' ORDER BY customer_id)) FROM warehouse.customers c")

    rerun_id = launch_backfill(stack, CUSTOMERS_CHAIN, [DAYS[1]])  # a single-partition re-run
    wait_for(lambda: backfill_done(stack, rerun_id), timeout=600, interval=5, what="the re-run")
    assert sql(stack, "SELECT md5(string_agg(c::text, '|' ORDER BY customer_id)) FROM warehouse.customers c") == before

    # the Parquet lake, read by DuckDB from downloaded files
    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"], region_name=stack["AWS_REGION"],
                      aws_access_key_id=stack["AWS_ACCESS_KEY_ID"], aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])
    with tempfile.TemporaryDirectory() as tmp:
        for day in DAYS:
            target = Path(tmp) / f"dt={day}"
            target.mkdir()
            s3.download_file(stack["PIPELINE_PROCESSED_BUCKET"], f"customers/dt={day}/part-00000.parquet",
                             str(target / "part-00000.parquet"))
        lake = duckdb.sql(f"SELECT dt::text, count(*) FROM read_parquet('{tmp}/*/*.parquet', hive_partitioning=true)"
                          " GROUP BY dt ORDER BY dt").fetchall()
    assert [(d, n) for d, n in lake] == [(d, per_day[d]) for d in DAYS]

    # the UI: the asset graph shows the lineage, a partitioned asset shows its partitions
    ARTIFACTS.mkdir(exist_ok=True)
    graphql(stack, "mutation { setNuxSeen }")  # Dagster's first-visit dialog would cover the screenshots
    graph = chromium(f"{stack['PIPELINE_DAGSTER_URL']}/asset-groups", ARTIFACTS / "asset-graph.png")
    for group in ("raw", "validated", "warehouse", "aggregates", "reports"):  # the layers, raw to reports
        assert re.search(rf">\s*{group}\s*<", graph), f"group {group} is not on the lineage page"
    assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000
    lineage = chromium(f"{stack['PIPELINE_DAGSTER_URL']}/assets/warehouse/customers?view=lineage&lineageScope=upstream",
                       ARTIFACTS / "customers-lineage.png")
    assert "customers" in lineage
    partitions = chromium(f"{stack['PIPELINE_DAGSTER_URL']}/assets/validated/customers?view=partitions",
                          ARTIFACTS / "partitions.png")
    assert "Partitions" in partitions or "partitions" in partitions


def test_report_hot_path_and_analytics_through_the_apis(stack):
    """One full day through every layer (a backfill of the whole graph), then the report in S3, events
    POSTed to the gateway visible in /metrics/realtime, and an analytics operation."""
    from pipeline_defs.definitions import defs

    day = "2026-11-12"
    seeded = subprocess.run(["pipeline", "seed", "--days", "1", "--end", day], env=stack,
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    keys = [key.path for key in defs.resolve_asset_graph().get_all_asset_keys()
            if key.path[0] in ("raw", "validated", "warehouse", "aggregates", "reports")]
    backfill_id = launch_backfill(stack, keys, [day])
    wait_for(lambda: backfill_done(stack, backfill_id), timeout=900, interval=5, what="the full-graph backfill")

    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"], region_name=stack["AWS_REGION"],
                      aws_access_key_id=stack["AWS_ACCESS_KEY_ID"], aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])
    report = json.loads(s3.get_object(Bucket=stack["PIPELINE_REPORTS_BUCKET"],
                                      Key=f"reports/{day}/daily_report.json")["Body"].read())
    html = s3.get_object(Bucket=stack["PIPELINE_REPORTS_BUCKET"], Key=f"reports/{day}/daily_report.html")["Body"].read()
    assert b"<svg" in html and day.encode() in html
    orders_loaded = sql(stack, "SELECT count(*) FROM warehouse.orders WHERE order_ts::date = %s", day)[0][0]
    assert orders_loaded > 0 and json.dumps(report).count(day) >= 1

    api = stack["PIPELINE_API_URL"]
    events = [{"eventType": "page_view", "userId": f"user_{n}", "timestamp": f"{day}T10:00:0{n}Z",
               "pageUrl": "/home", "loadTime": 900 + n} for n in range(5)]
    posted = requests.post(f"{api}/events", json=events + [{"eventType": "teleport", "userId": "u"}], timeout=30)
    assert posted.status_code in (200, 207), posted.text
    assert posted.json()["accepted"] == 5 and posted.json()["rejected"] == 1

    def visible():
        metrics = requests.get(f"{api}/metrics/realtime", params={"date": day}, timeout=30).json()
        return metrics if metrics.get("event_counts", {}).get("page_view", 0) >= 5 else None

    wait_for(visible, timeout=120, interval=2, what="the POSTed events in /metrics/realtime")
    demo = requests.get(f"{api}/analytics", params={"operation": "simple_demo"}, timeout=60)
    assert demo.status_code == 200, demo.text
    unknown = requests.get(f"{api}/analytics", params={"operation": "custom_complex_query"}, timeout=60)
    assert unknown.status_code == 400 and unknown.json()["error"]
