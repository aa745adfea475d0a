"""A whole local stack per session — PostgreSQL, moto_server, and `dg dev` (webserver + daemon) —
in a private state folder on free ports, driven the way a user drives it."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def stack():
    """`pipeline local up` with Dagster; yields the environment `pipeline local env` prints."""
    base = private_stack_env("pipeline-e2e-")
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
