"""A whole local stack per session — PostgreSQL, moto_server, and `dg dev` (webserver + daemon) —
in a private state folder on free ports, driven the way a user drives it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import exported, free_port

BIN = Path(sys.executable).parent


def private_stack_env(prefix: str) -> dict[str, str]:
    """The environment of a stack of its own: a private state dir, free ports, nothing inherited."""
    state = Path(tempfile.mkdtemp(prefix=prefix))
    state.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_", "DAGSTER_"))}
    base.update({"PIPELINE_LOCAL_DIR": str(state), "PIPELINE_MOTO_PORT": str(free_port()),
                 "PIPELINE_PG_PORT": str(free_port()), "PIPELINE_DAGSTER_PORT": str(free_port()),
                 "PIPELINE_GATEWAY_PORT": str(free_port())})
    return base


@contextlib.contextmanager
def running_stack(prefix: str):
    """`pipeline local up` with Dagster on a private state dir and free ports; yields the environment
    `pipeline local env` prints, and wipes the stack afterwards."""
    base = private_stack_env(prefix)
    base["PIPELINE_AUTOMATION_INTERVAL_SECONDS"] = "5"  # sensors/automation.py: ticks every 5 s
    up = subprocess.run([str(BIN / "pipeline"), "local", "up"], env=base, capture_output=True, text=True, timeout=400)
    if up.returncode != 0:
        subprocess.run([str(BIN / "pipeline"), "local", "down", "--wipe"], env=base, timeout=120)
        pytest.fail(f"pipeline local up failed: {up.stderr or up.stdout}")
    env = {**base, **exported(subprocess.run([str(BIN / "pipeline"), "local", "env"], env=base,
                                              capture_output=True, text=True, check=True).stdout)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    try:
        yield env
    finally:
        subprocess.run([str(BIN / "pipeline"), "local", "down", "--wipe"], env=base, capture_output=True, timeout=180)


@pytest.fixture(scope="session")
def stack():
    """One stack shared by the walkthrough-style tests (test_upload_flow.py, test_walkthrough.py)."""
    with running_stack("pipeline-e2e-") as env:
        yield env


def wait_for(predicate, timeout: float, interval: float = 2.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def sql(env, query: str, *params):
    with psycopg.connect(env["PIPELINE_DATABASE_URL"]) as conn:
        return conn.execute(query, params or None).fetchall()
