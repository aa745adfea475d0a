"""The upload path under hostile input and faults, with the real sensor daemon (one stack session):

* odd-but-routable prefixes (``CRM/Customers/``, ``crm_data/``) are loaded, not dropped;
* hostile queue messages (5000-deep JSON, ``size: 1e400``) are dead-lettered alone, a ``dt=`` outside
  the partitions is quarantined as ``invalid:partition``, and the valid uploads of the same ticks load;
* a load hit by an ~11 s PostgreSQL outage (Dagster's own storage is on the same server) ends loaded
  by itself, exactly once;
* a load that fails for good is marked ``failed`` and requested again by the recovery sensor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import boto3
import pytest

from tests.e2e.conftest import running_stack, sql, wait_for

pytestmark = pytest.mark.e2e
DAY = "2026-11-26"
OUTAGE_SECONDS = 11
ROWS = 50_000  # enough that the outage falls inside the run's steps


def customers(prefix: str, n: int) -> bytes:
    return "\n".join(json.dumps({"customer_id": f"{prefix}-{i}", "email": f"{prefix.lower()}{i}@example.com",
                                 "country": "US", "signup_date": "2026-01-05"}) for i in range(n)).encode()


@pytest.fixture(scope="module")
def stack():
    """A stack of its own: these tests stop its PostgreSQL and rename its tables, which the shared
    stack of tests/e2e/conftest.py must not see."""
    with running_stack("pipeline-faults-") as env:
        yield env


def client(stack, service: str):
    return boto3.client(service, endpoint_url=stack["AWS_ENDPOINT_URL"], region_name=stack["AWS_REGION"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), env=stack, capture_output=True, text=True, timeout=120)


def audit(stack, key: str) -> list[tuple]:
    return sql(stack, "SELECT status, rows_in, rows_loaded FROM ops.load_audit WHERE source_key = %s", key)


def dagster_runs(stack, job: str) -> list[tuple]:
    with __import__("psycopg").connect(stack["PIPELINE_DAGSTER_DATABASE_URL"]) as conn:
        return conn.execute("SELECT run_id, status FROM runs WHERE pipeline_name = %s ORDER BY create_timestamp",
                            (job,)).fetchall()


def step_started(stack, run_id: str, step: str) -> bool:
    with __import__("psycopg").connect(stack["PIPELINE_DAGSTER_DATABASE_URL"]) as conn:
        return bool(conn.execute("SELECT 1 FROM event_logs WHERE run_id = %s AND step_key = %s AND "
                                 "dagster_event_type = 'STEP_START'", (run_id, step)).fetchall())


def test_odd_prefixes_load_and_hostile_messages_do_not_sink_the_tick(stack):
    raw, s3, sqs = stack["PIPELINE_RAW_BUCKET"], client(stack, "s3"), client(stack, "sqs")
    queue = sqs.get_queue_url(QueueName=stack["PIPELINE_UPLOADS_QUEUE"])["QueueUrl"]
    hostile = ["[" * 5000 + "]" * 5000, json.dumps({"Records": [{
        "eventName": "ObjectCreated:Put", "eventTime": f"{DAY}T10:00:00.000Z",
        "s3": {"object": {"key": f"crm/customers/dt={DAY}/ghost.json", "eTag": "x"}}}]}).replace('"eTag"', '"size": 1e400, "eTag"')]
    for body in hostile:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    upper, seed_style = f"CRM/Customers/dt={DAY}/upper.json", f"crm_data/dt={DAY}/seed.json"
    old = "crm/customers/dt=2019-01-01/old.json"
    s3.put_object(Bucket=raw, Key=upper, Body=customers("UP", 3))
    s3.put_object(Bucket=raw, Key=seed_style, Body=customers("SEED", 2))
    s3.put_object(Bucket=raw, Key=old, Body=customers("OLD", 1))

    wait_for(lambda: audit(stack, upper) == [("loaded", 3, 3)] and audit(stack, seed_style) == [("loaded", 2, 2)],
             timeout=300, what="the odd-prefix uploads to be loaded")
    assert sql(stack, "SELECT count(*) FROM warehouse.customers WHERE customer_id LIKE 'UP-%%' "
                      "OR customer_id LIKE 'SEED-%%'") == [(5,)]

    status = cli(stack, "pipeline", "status", "files", "--dataset", "customers")
    assert status.returncode == 0, status.stderr
    line = next(row for row in status.stdout.splitlines() if old in row)
    assert line.startswith("quarantined") and "(invalid:partition)" in line
    copied = s3.list_objects_v2(Bucket=stack["PIPELINE_QUARANTINE_BUCKET"], Prefix="invalid-partition/")
    assert [o["Key"] for o in copied.get("Contents", [])] == [f"invalid-partition/{old}"]

    def dead_lettered():
        listing = cli(stack, "pipeline", "dlq", "list")
        assert listing.returncode == 0, listing.stderr  # never dies on a hostile body
        return listing.stdout if listing.stdout.startswith(f"{len(hostile)} message(s)") else None

    listing = wait_for(dead_lettered, timeout=240, interval=5, what="the hostile messages to reach the DLQ")
    assert "unreadable (RecursionError)" in listing
    again = cli(stack, "pipeline", "dlq", "list").stdout
    assert again.splitlines()[0] == listing.splitlines()[0]  # listing consumed nothing


def test_load_survives_a_postgres_outage(stack):
    """Stop PostgreSQL for ~11 s while a load runs: Dagster's run retry (or the recovery sensor) loads it."""
    raw, s3 = stack["PIPELINE_RAW_BUCKET"], client(stack, "s3")
    key = f"crm/customers/dt={DAY}/outage.json"
    before = {run_id for run_id, _ in dagster_runs(stack, "load_customers")}
    s3.put_object(Bucket=raw, Key=key, Body=customers("OUT", ROWS))
    started = wait_for(lambda: [r for r, status in dagster_runs(stack, "load_customers")
                                if r not in before and status == "STARTED"],
                       timeout=240, interval=0.5, what="the load run to start")
    wait_for(lambda: step_started(stack, started[0], "validated__customers"), timeout=240, interval=0.2,
             what="the validation step to start")  # it reads S3, then writes quarantine + audit rows
    outage = subprocess.Popen([sys.executable, "-c", (
        "import time; from pipeline_defs.local.postgres import LocalPostgres; "
        "from pipeline_defs.settings import load_settings; pg = LocalPostgres.for_settings(load_settings()); "
        f"pg.stop(); time.sleep({OUTAGE_SECONDS}); pg.start()")], env=stack)
    t0 = time.monotonic()
    assert outage.wait(timeout=180) == 0
    print(f"outage of {time.monotonic() - t0:.1f}s during run {started[0]}")

    def loaded():
        state = cli(stack, "pipeline", "status", "files", "--dataset", "customers", "--date", DAY).stdout
        line = next((row for row in state.splitlines() if key in row), "")
        return line.startswith("loaded") and sql(
            stack, "SELECT count(*) FROM warehouse.customers WHERE customer_id LIKE 'OUT-%%'") == [(ROWS,)]

    wait_for(loaded, timeout=900, interval=5, what="the load hit by the outage to end loaded")
    runs = wait_for(lambda: finished_runs(stack, before), timeout=300, what="the load runs to finish")
    print(f"{round(time.monotonic() - t0)} s from the outage to loaded and finished; runs: {runs}; "
          f"events: {run_events(stack, [r for r, _ in runs])}")
    assert audit(stack, key) == [("loaded", ROWS, ROWS)]
    assert [s for _, s in runs].count("SUCCESS") == 1  # loaded once: retries never double a load


def finished_runs(stack, before: set[str]) -> list[tuple] | None:
    runs = [(r, s) for r, s in dagster_runs(stack, "load_customers") if r not in before]
    return runs if all(s in ("SUCCESS", "FAILURE", "CANCELED") for _, s in runs) else None


def run_events(stack, run_ids: list[str]) -> list[tuple]:
    """What the outage did to the runs: step failures, restarts, engine events per step."""
    with __import__("psycopg").connect(stack["PIPELINE_DAGSTER_DATABASE_URL"]) as conn:
        return conn.execute("SELECT dagster_event_type, step_key, count(*) FROM event_logs WHERE run_id = ANY(%s) "
                            "AND dagster_event_type IN ('STEP_FAILURE', 'STEP_UP_FOR_RETRY', 'STEP_RESTARTED', "
                            "'RUN_FAILURE', 'ENGINE_EVENT') GROUP BY 1, 2 ORDER BY 1, 2", (run_ids,)).fetchall()


def test_a_failed_load_is_requested_again_by_itself(stack):
    """A load that keeps failing (its audit table is gone) exhausts the step retries and Dagster's run
    retries; its file turns `failed`; once the fault is repaired, the recovery sensor's attempt 2 loads it."""
    import psycopg

    key = f"crm/customers/dt={DAY}/failing.json"
    before = {run_id for run_id, _ in dagster_runs(stack, "load_customers")}

    def state() -> str:
        listing = cli(stack, "pipeline", "status", "files", "--dataset", "customers", "--date", DAY).stdout
        return next((row for row in listing.splitlines() if key in row), "")

    with psycopg.connect(stack["PIPELINE_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("ALTER TABLE ops.load_audit RENAME TO load_audit_gone")
        try:
            client(stack, "s3").put_object(Bucket=stack["PIPELINE_RAW_BUCKET"], Key=key, Body=customers("FAIL", 10))
            wait_for(lambda: state().startswith("failed"), timeout=480, interval=3,
                     what="the failing load's file to be marked failed")
        finally:
            conn.execute("ALTER TABLE ops.load_audit_gone RENAME TO load_audit")
    t0 = time.monotonic()
    print("after the failures:", state())
    wait_for(lambda: state().startswith("loaded"), timeout=600, interval=5, what="attempt 2 to load the file")
    runs = wait_for(lambda: finished_runs(stack, before), timeout=300, what="the load runs to finish")
    attempts = dict(attempt_tags(stack, [r for r, _ in runs]))
    print(f"failed load loaded {round(time.monotonic() - t0)} s after the repair; runs (attempt, status): "
          f"{[(attempts[r], s) for r, s in runs]}")
    assert [(attempts[r], s) for r, s in runs] == [("1", "FAILURE")] * 3 + [("2", "SUCCESS")]  # run + 2 run retries
    assert audit(stack, key) == [("loaded", 10, 10)]
    assert sql(stack, "SELECT count(*) FROM warehouse.customers WHERE customer_id LIKE 'FAIL-%%'") == [(10,)]


def attempt_tags(stack, run_ids: list[str]) -> list[tuple]:
    with __import__("psycopg").connect(stack["PIPELINE_DAGSTER_DATABASE_URL"]) as conn:
        return conn.execute("SELECT run_id, value FROM run_tags WHERE key = 'pipeline/attempt' AND run_id = ANY(%s)",
                            (run_ids,)).fetchall()
