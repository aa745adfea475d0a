"""One owner for every process: signals to `pipeline local up --foreground` leave nothing running, a
second stack on the same state dir is refused with the holder's PID, and the running stack is found
from a shell that knows only its state dir. Real processes throughout (PostgreSQL, moto, Dagster)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from pipeline_defs.local.members import members, pid_alive
from tests.conftest import exported, free_port
from tests.pipeline_defs.test_local_stack import PIPELINE, run, stack_env  # noqa: F401  (fixture)


def _postmaster(state: Path) -> int:
    return int((state / "postgres" / "data" / "postmaster.pid").read_text().split()[0])


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig, dagster", [(signal.SIGTERM, False), (signal.SIGHUP, True)], ids=["term", "hup-dagster"])
def test_a_stop_signal_to_the_foreground_stack_leaves_no_process(stack_env, sig, dagster):  # noqa: F811
    state = Path(stack_env["PIPELINE_LOCAL_DIR"])
    argv = [PIPELINE, "local", "up", "--foreground"] + ([] if dagster else ["--no-dagster"])
    owner = subprocess.Popen(argv, env=stack_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in owner.stdout:  # the console: endpoints, then the next steps once everything answers
        lines.append(line)
        if "local env)\"" in line:
            break
    assert owner.poll() is None, "".join(lines)
    console = "".join(lines)
    assert f"Dagster UI   http://127.0.0.1:{stack_env['PIPELINE_DAGSTER_PORT']}" in console
    parts = members(state) + [_postmaster(state)]
    assert len(parts) >= 3 + (3 if dagster else 0), parts  # moto, gateway, poller (+ dg dev, webserver, daemon…)

    owner.send_signal(sig)
    rest = owner.communicate(timeout=120)[0]
    assert owner.returncode == 0, rest
    assert "stopping what `make dev` started" in rest
    for chatter in (" - DEBUG - ", " - INFO - "):  # the quiet console: Dagster's chatter stays in the log
        assert chatter not in console + rest
    assert [pid for pid in parts if pid_alive(pid)] == [] and members(state) == []
    assert not (state / "stack.json").exists()
    status = run(stack_env, "local", "status")
    assert status.returncode == 3 and " up " not in status.stdout, status.stdout


def test_a_second_stack_on_the_same_state_dir_is_refused_with_the_holders_pid(stack_env):  # noqa: F811
    state = Path(stack_env["PIPELINE_LOCAL_DIR"])
    first = run(stack_env, "local", "up", "--no-dagster")
    assert first.returncode == 0, first.stderr
    moto_pid = int((state / "run" / "moto.pid").read_text())

    other_ports = {**stack_env, "PIPELINE_MOTO_PORT": str(free_port()), "PIPELINE_PG_PORT": str(free_port()),
                   "PIPELINE_GATEWAY_PORT": str(free_port()), "PIPELINE_DAGSTER_PORT": str(free_port())}
    second = run(other_ports, "local", "up", "--no-dagster")
    assert second.returncode == 1
    (line,) = second.stderr.strip().splitlines()
    assert f"state dir {state} is held by a running stack on other ports" in line
    assert f"pid {moto_pid} (moto_server" in line and "pipeline local down" in line
    second_foreground = run(other_ports, "local", "up", "--foreground", "--no-dagster")
    assert second_foreground.returncode == 1 and f"pid {moto_pid}" in second_foreground.stderr
    assert pid_alive(moto_pid)  # refusing touched nothing of the first stack

    # a shell that knows only the state dir finds the running stack's ports
    bare = {k: v for k, v in stack_env.items() if not k.endswith("_PORT")}
    status = run(bare, "local", "status")
    assert status.returncode == 0, status.stdout
    assert f"http://127.0.0.1:{stack_env['PIPELINE_MOTO_PORT']}" in status.stdout
    env = exported(run(bare, "local", "env").stdout)
    assert env["PIPELINE_MOTO_PORT"] == stack_env["PIPELINE_MOTO_PORT"]
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    queues = run(bare, "aws", "sqs", "list-queues")
    assert queues.returncode == 0 and "pipeline-uploads" in queues.stdout, queues.stderr

    # a leftover of this stack that no PID file knows (an orphaned daemon) blocks `up` and is stopped by `down`
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             env={**stack_env, "PIPELINE_STACK_DIR": str(state)}, start_new_session=True)
    try:
        _wait(lambda: stray.pid in members(state), 10, "the stray to be visible")
        again = run(stack_env, "local", "up", "--no-dagster")
        assert again.returncode == 1 and f"pid {stray.pid} (python" in again.stderr, again.stderr
        assert f"stray     running   pid {stray.pid}" in run(bare, "local", "status").stdout
        down = run(bare, "local", "down")
        assert down.returncode == 0 and f"pid {stray.pid}" in down.stdout
        stray.wait(timeout=30)
        assert not pid_alive(moto_pid) and members(state) == []
    finally:
        if stray.poll() is None:
            stray.kill()


def test_the_quiet_console_keeps_run_outcomes_and_warnings_only():
    from pipeline_defs.local.foreground import console_line

    run_id = "5f3e1c2a-0b1d-4c6e-9a8f-123456789abc"
    log = [
        f'2026-11-27 18:30:00 +0000 - dagster - DEBUG - load_orders - {run_id} - 4242 - RUN_SUCCESS - '
        'Finished execution of run for "load_orders".',
        f"2026-11-27 18:30:01 +0000 - dagster - \x1b[31mERROR\x1b[0m - load_customers - {run_id} - 4243 - "
        'RUN_FAILURE - Execution of run for "load_customers" failed. Steps failed: [\'validated__customers\'].',
        f"2026-11-27 18:30:02 +0000 - dagster - DEBUG - load_orders - {run_id} - 4242 - raw__orders - STEP_START",
        "2026-11-27 18:30:03 +0000 - dagster.daemon.SensorDaemon - INFO - Checking for new runs for sensor",
        "2026-11-27 18:30:04 +0000 - dagster.daemon.SensorDaemon - WARNING - sqs_upload_sensor: queue unavailable",
    ]
    assert [console_line(line) for line in log] == [
        'run 5f3e1c2a of load_orders succeeded: Finished execution of run for "load_orders".',
        "run 5f3e1c2a of load_customers FAILED: Execution of run for \"load_customers\" failed. "
        "Steps failed: ['validated__customers'].",
        None, None,
        "2026-11-27 18:30:04 +0000 - dagster.daemon.SensorDaemon - WARNING - sqs_upload_sensor: queue unavailable",
    ]


def test_a_restart_keeps_uploads_lake_state_and_queued_messages(stack_env):  # noqa: F811
    import boto3

    assert run(stack_env, "local", "up", "--no-dagster").returncode == 0
    env = exported(run(stack_env, "local", "env").stdout)
    names = {k: env[k] for k in ("PIPELINE_RAW_BUCKET", "PIPELINE_PROCESSED_BUCKET", "PIPELINE_STATE_TABLE",
                                 "PIPELINE_UPLOADS_QUEUE")}
    aws = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
               aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    s3, ddb, sqs = boto3.client("s3", **aws), boto3.client("dynamodb", **aws), boto3.client("sqs", **aws)
    upload, lake = "erp/orders/dt=2026-11-20/orders.jsonl", "orders/dt=2026-11-20/part-00000.parquet"
    s3.put_object(Bucket=names["PIPELINE_RAW_BUCKET"], Key=upload, Body=b'{"order_id": "o1"}\n')
    s3.put_object(Bucket=names["PIPELINE_PROCESSED_BUCKET"], Key=lake, Body=b"PAR1 lake partition",
                  ContentType="application/vnd.apache.parquet")
    state = {"pk": {"S": f"file#{upload}"}, "sk": {"S": "state"}, "status": {"S": "loaded"}}
    ddb.put_item(TableName=names["PIPELINE_STATE_TABLE"], Item=state)
    queue = sqs.get_queue_url(QueueName=names["PIPELINE_UPLOADS_QUEUE"])["QueueUrl"]

    down = run(stack_env, "local", "down")
    assert down.returncode == 0 and "aws: kept" in down.stdout, down.stdout
    up = run(stack_env, "local", "up", "--no-dagster")
    assert up.returncode == 0 and "aws: restored" in up.stdout, up.stdout + up.stderr

    raw = s3.get_object(Bucket=names["PIPELINE_RAW_BUCKET"], Key=upload)
    assert raw["Body"].read() == b'{"order_id": "o1"}\n'
    parquet = s3.get_object(Bucket=names["PIPELINE_PROCESSED_BUCKET"], Key=lake)
    assert parquet["Body"].read() == b"PAR1 lake partition" and parquet["ContentType"] == "application/vnd.apache.parquet"
    assert s3.get_bucket_versioning(Bucket=names["PIPELINE_RAW_BUCKET"])["Status"] == "Enabled"
    assert ddb.get_item(TableName=names["PIPELINE_STATE_TABLE"], Key={"pk": state["pk"], "sk": state["sk"]})["Item"] == state
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
    uploads = [unquote_plus(r["s3"]["object"]["key"]) for b in bodies for r in json.loads(b).get("Records", [])]
    assert uploads == [upload]  # queued once: restoring the raw bucket queued nothing new


def test_a_stray_dagster_without_pid_file_is_found_by_its_port_and_stopped(stack_env):  # noqa: F811
    """A UI left by an earlier stack (no PID file, no mark): `status` names it, `down` stops its session."""
    state, port = Path(stack_env["PIPELINE_LOCAL_DIR"]), int(stack_env["PIPELINE_DAGSTER_PORT"])
    ui = ("import http.server, subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
          f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()")
    env = {k: v for k, v in stack_env.items()}
    env["DAGSTER_HOME"] = str(state / "dagster")
    stray = subprocess.Popen([sys.executable, "-c", ui], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from pipeline_defs.local.members import port_holder, same_session

        _wait(lambda: port_holder(port) == stray.pid, 20, "the stray UI to listen")
        session = same_session(stray.pid)
        assert len(session) == 2  # the "webserver" and its child (a daemon)
        status = run(stack_env, "local", "status")
        assert f"dagster   stray     http://127.0.0.1:{port} served by pid {stray.pid}" in status.stdout, status.stdout
        down = run(stack_env, "local", "down")
        assert down.returncode == 0 and f"pid {stray.pid}" in down.stdout, down.stdout + down.stderr
        stray.wait(timeout=30)
        assert [pid for pid in session if pid_alive(pid)] == []
    finally:
        if stray.poll() is None:
            stray.kill()
