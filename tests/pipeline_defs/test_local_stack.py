"""`pipeline local up/down/status/env` as a user runs them: real PostgreSQL, a real moto_server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import exported, free_port

PIPELINE = str(Path(sys.executable).parent / "pipeline")


@pytest.fixture
def stack_env():
    """A private state folder and free ports, so the test never touches a developer's stack."""
    state = Path(tempfile.mkdtemp(prefix="pipeline-stack-"))
    state.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    env.update({
        "PIPELINE_LOCAL_DIR": str(state),
        "PIPELINE_MOTO_PORT": str(free_port()),
        "PIPELINE_PG_PORT": str(free_port()),
        "PIPELINE_DAGSTER_PORT": str(free_port()),
        "PIPELINE_GATEWAY_PORT": str(free_port()),
    })
    yield env
    subprocess.run([PIPELINE, "local", "down", "--wipe"], env=env, capture_output=True, timeout=120)


def run(env, *args, timeout=180):
    return subprocess.run([PIPELINE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_up_env_status_down(stack_env):
    down_first = run(stack_env, "local", "down")
    assert down_first.returncode == 0 and "nothing was running" in down_first.stdout

    up = run(stack_env, "local", "up", "--no-dagster")
    assert up.returncode == 0, up.stderr
    assert "postgres: started" in up.stdout and "moto: started" in up.stdout
    assert "migrations: applied" in up.stdout

    again = run(stack_env, "local", "up", "--no-dagster")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and "all" in again.stdout and "resources present" in again.stdout

    env = exported(run(stack_env, "local", "env").stdout)
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "PIPELINE_DATABASE_URL",
                 "PIPELINE_RAW_BUCKET", "PIPELINE_PROCESSED_BUCKET", "PIPELINE_QUARANTINE_BUCKET",
                 "PIPELINE_REPORTS_BUCKET", "PIPELINE_UPLOADS_QUEUE", "PIPELINE_EVENTS_STREAM",
                 "PIPELINE_STATE_TABLE", "PIPELINE_ALERTS_TOPIC", "PIPELINE_API_URL"):
        assert env.get(name), f"{name} missing from `pipeline local env`"

    # the real clients, as a new user would try them
    user_env = {**stack_env, **env}
    aws = Path(sys.executable).parent / "aws"
    listing = subprocess.run([str(aws), "s3", "ls"], env=user_env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert env["PIPELINE_RAW_BUCKET"] in listing.stdout
    psql = subprocess.run(["psql", env["PIPELINE_DATABASE_URL"], "-Atc", "SELECT count(*) FROM ops.schema_migrations"],
                          env=user_env, capture_output=True, text=True, timeout=60)
    assert psql.returncode == 0, psql.stderr
    assert int(psql.stdout) >= 1

    status = run(stack_env, "local", "status")
    assert status.returncode == 0
    assert "postgres  up" in status.stdout and "moto      up" in status.stdout

    down = run(stack_env, "local", "down")
    assert down.returncode == 0
    assert "moto: stopped" in down.stdout and "postgres: stopped" in down.stdout
    assert run(stack_env, "local", "status").returncode == 3

    # moto keeps nothing across restarts: `down` snapshotted it, the next `up` restores and says what
    back = run(stack_env, "local", "up", "--no-dagster")
    assert back.returncode == 0, back.stderr
    assert "aws: restored" in back.stdout and "not kept: older object versions" in back.stdout
    assert "migrations: up to date" in back.stdout


def test_port_taken_is_one_line_error(stack_env):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(stack_env["PIPELINE_MOTO_PORT"])))
        blocker.listen(1)
        result = run(stack_env, "local", "up", "--no-dagster")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"pipeline: port {stack_env['PIPELINE_MOTO_PORT']} for moto is already in use by "
                           f"pid {os.getpid()} (")  # the holder: this test process
    assert line.endswith("; stop it or choose another port (see `pipeline local env`)")
    assert "Traceback" not in result.stderr


def test_stale_pid_file_is_ignored(stack_env):
    run_dir = Path(stack_env["PIPELINE_LOCAL_DIR"]) / "run"
    run_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / "moto.pid").write_text(str(dead.pid))
    result = run(stack_env, "local", "up", "--no-dagster")
    assert result.returncode == 0, result.stderr
    assert "moto: started" in result.stdout


def test_missing_postgres_binaries_is_one_line_error(stack_env, monkeypatch):
    from pipeline_defs.local.postgres import LocalPostgres, PostgresError

    cluster = LocalPostgres(root=Path(stack_env["PIPELINE_LOCAL_DIR"]) / "pg", port=free_port(),
                            credentials_file=Path(stack_env["PIPELINE_LOCAL_DIR"]) / "pg.json")
    monkeypatch.setattr("pipeline_defs.local.postgres.find_bin_dir", lambda: None)
    with pytest.raises(PostgresError, match="no PostgreSQL binaries found"):
        cluster.init()


def test_a_killed_runs_throwaway_cluster_is_reaped(tmp_path, monkeypatch):
    """A pytest or benchmark killed mid-run leaves its cluster; the next one stops and deletes it."""
    import subprocess
    import sys

    from pipeline_defs.local.postgres import OWNER_FILE, reap_orphaned_clusters

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan, live, foreign = tmp_path / "reap-test-a", tmp_path / "reap-test-b", tmp_path / "reap-test-c"
    for root in (orphan, live, foreign):
        root.mkdir()
    (orphan / OWNER_FILE).write_text(dead.stdout.strip())
    (live / OWNER_FILE).write_text(str(os.getpid()))
    assert reap_orphaned_clusters("reap-test-") == 1
    assert not orphan.exists() and live.exists() and foreign.exists()


def test_local_instance_config_queues_one_load_per_partition_and_retries_runs(monkeypatch):
    import yaml
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import (ConcurrencyConfig, dagster_instance_config_schema,
                                               validate_concurrency_config)
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from pipeline_defs.local.stack import DAGSTER_YAML

    monkeypatch.setenv("PIPELINE_DAGSTER_DATABASE_URL", "postgresql://u@localhost/dagster")
    config = yaml.safe_load(DAGSTER_YAML)
    result = process_config(resolve_to_config_type(dagster_instance_config_schema()), config)
    assert result.success, result.errors
    validate_concurrency_config(config)  # `concurrency > runs` and no coordinator limits beside it
    queue = ConcurrencyConfig.from_concurrency_settings(config["concurrency"],
                                                        QueuedRunCoordinator().get_run_queue_config())
    assert queue.run_queue_config.max_concurrent_runs == 3
    assert queue.run_queue_config.tag_concurrency_limits == [
        {"key": "pipeline/load", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert config["run_retries"] == {"enabled": True, "max_retries": 2}


def test_moto_stays_healthy_after_a_multipart_upload(tmp_path):
    """moto's /moto-api/data.json answers 500 once a multipart upload exists; the stack's probe must not."""
    import boto3
    import urllib.error
    import urllib.request

    from pipeline_defs.local.stack import LocalStack
    from pipeline_defs.settings import LocalPorts, Settings

    stack = LocalStack(Settings(local_dir=tmp_path, ports=LocalPorts(moto=free_port())))
    moto = stack.moto()
    assert moto.start()
    try:
        s3 = boto3.client("s3", endpoint_url=stack.moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="lake")
        upload = s3.create_multipart_upload(Bucket="lake", Key="part-00000.parquet")["UploadId"]
        part = s3.upload_part(Bucket="lake", Key="part-00000.parquet", UploadId=upload, PartNumber=1,
                              Body=b"x" * (5 * 1024 * 1024))
        s3.complete_multipart_upload(Bucket="lake", Key="part-00000.parquet", UploadId=upload,
                                     MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
        with pytest.raises(urllib.error.HTTPError, match="500"):  # the old probe's answer now
            urllib.request.urlopen(f"{stack.moto_url}/moto-api/data.json", timeout=10)
        assert moto.ready()
        assert moto.start() is False  # `up` again: "already running", not "running but not answering"
        assert ("moto", "up", stack.moto_url) in stack.status()
    finally:
        moto.stop()
