"""moto's data lost (SIGKILL, no snapshot): `up` says what was lost and the command that rebuilds it;
that command, with the real sensor daemon running, brings back the lake, quarantine files and
processing state of every seeded day while the warehouse keeps its rows, not doubled."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.seed import seed_keys
from pipeline_defs.state import get_states
from tests.conftest import exported
from tests.e2e.conftest import BIN, private_stack_env, sql, wait_for

pytestmark = pytest.mark.e2e

WAIT = 180  # seconds, per wait
TABLES = sorted({table for contract in CONTRACTS.values() for table in (contract.table, *(c.table for c in contract.children))})


def pipeline(env: dict, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "pipeline"), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"pipeline {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def own_stack():
    """A stack of this test alone (it kills parts of it): free ports, a private state dir."""
    base = private_stack_env("pipeline-restart-")
    try:
        pipeline(base, "local", "up")
        env = {**base, **exported(pipeline(base, "local", "env").stdout)}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        yield env
    finally:
        subprocess.run([str(BIN / "pipeline"), "local", "down", "--wipe"], env=base, capture_output=True, timeout=180)


def aws(env: dict, service: str):
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def keys_under(env: dict, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in aws(env, "s3").list_objects_v2(Bucket=env[bucket], Prefix=prefix).get("Contents", [])]


def day_rebuilt(env: dict, day: str, keys: list[str]):
    """Every seeded file loaded (or quarantined) in the processing state, and the lake partitions there."""
    states = get_states(aws(env, "dynamodb"), env["PIPELINE_STATE_TABLE"], keys)
    statuses = {key: states[key].status if key in states else None for key in keys}
    if set(statuses.values()) - {"loaded", "quarantined"}:
        return False
    lake = {table: keys_under(env, "PIPELINE_PROCESSED_BUCKET", f"{table}/dt={day}/") for table in ("customers", "orders")}
    return statuses if all(lake.values()) else False


def wait_loaded(env: dict, day: str, keys: list[str], what: str) -> dict[str, str]:
    """Two bounded waits: the sensor requests the files' runs (state recorded), then they are loaded."""
    ddb = aws(env, "dynamodb")
    wait_for(lambda: len(get_states(ddb, env["PIPELINE_STATE_TABLE"], keys)) == len(keys), WAIT, 3,
             f"the sensor to request {what}")
    return wait_for(lambda: day_rebuilt(env, day, keys), WAIT, 3, what)


def audit_runs(env: dict, keys: list[str]) -> dict[str, tuple[str, str]]:
    return {key: (status, run) for key, status, run in
            sql(env, "SELECT source_key, status, run_id FROM ops.load_audit WHERE source_key = ANY(%s)", keys)}


def warehouse_rows(env: dict) -> dict[str, int]:
    return {table: sql(env, f"SELECT count(*) FROM warehouse.{table}")[0][0] for table in TABLES}


def test_lost_moto_is_rebuilt_by_the_command_up_names(own_stack):
    env = own_stack
    day = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    keys = seed_keys(datetime.fromisoformat(day).date())

    pipeline(env, "seed", "--days", "1")
    wait_loaded(env, day, keys, "the seeded day's first load")
    first = wait_for(lambda: (runs := audit_runs(env, keys)) and len(runs) == len(keys) and runs, WAIT, 3, "the audit")
    rows = warehouse_rows(env)
    assert rows["customers"] > 0 and rows["orders"] > 0
    quarantined = keys_under(env, "PIPELINE_QUARANTINE_BUCKET", "")
    assert quarantined, "the seed's bad rows are quarantined"

    moto_pid = int((Path(env["PIPELINE_LOCAL_DIR"]) / "run" / "moto.pid").read_text())
    os.kill(moto_pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{moto_pid}").exists() or "Z" in Path(f"/proc/{moto_pid}/stat").read_text().split()[2],
             30, 0.5, "moto to die")

    up = pipeline(env, "local", "up").stdout
    assert "LOST" in up and "S3 object" in up and "processing state" in up, up
    command = re.search(r"^  rebuild with: (.+)$", up, re.MULTILINE)
    assert command and command.group(1) == f"pipeline seed --days 1 --end {day}", up
    assert keys_under(env, "PIPELINE_PROCESSED_BUCKET", "") == []  # the new moto is empty

    started = time.monotonic()
    pipeline(env, *command.group(1).split()[1:])
    statuses = wait_loaded(env, day, keys, "the re-seeded day's load in the new moto")
    assert set(statuses.values()) == {"loaded"}, statuses
    again = wait_for(lambda: (runs := audit_runs(env, keys)) and all(runs[k][1] != first[k][1] for k in keys) and runs,
                     WAIT, 3, "every file loaded by a new run")
    assert again == {key: ("loaded", again[key][1]) for key in keys}
    assert sorted(keys_under(env, "PIPELINE_QUARANTINE_BUCKET", "")) == sorted(quarantined)
    assert warehouse_rows(env) == rows  # loaded again, not doubled
    print(f"rebuilt {len(keys)} files of {day} in {time.monotonic() - started:.0f}s after the re-seed")
