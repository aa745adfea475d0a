"""The batch benchmark's `dlt` phase on a tiny day, against the suite's real PostgreSQL.

Ours loads a few hundred generated rows; its warehouse is exported to CSV exactly as the benchmark
does; the `dlt` phase then runs as the benchmark runs it (its own process, its own database), twice,
so the merge has to be an upsert. Checks rows, types and content — never timings — and that dlt
wrote nothing outside its temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from dagster import materialize

from assets.raw import raw_assets
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from bench.batch_data import day_files
from bench.batch_load import DAY, TABLES, _export_valid_rows
from pipeline_defs.resources import build_resources

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(pg_server_url):
    """A fresh, unmigrated database: dlt creates its own tables."""
    name = f"dlt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_phase(db: str, csv_dir: Path, home: Path) -> dict:
    """`python -m bench.batch_load --phase dlt` from an empty cwd with an empty HOME."""
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    cwd = home / "cwd"
    cwd.mkdir(exist_ok=True)
    out = subprocess.run([sys.executable, "-m", "bench.batch_load", "--phase", "dlt", "--db", db, "--csv", str(csv_dir)],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_dlt_phase_upserts_the_rows_ours_loaded(pipeline_env, database_url, empty_database, tmp_path):
    s3 = boto3.client("s3")
    for key, body, _ in day_files(400, DAY):
        s3.put_object(Bucket=pipeline_env.names.raw_bucket, Key=key, Body=body)
    result = materialize([*raw_assets, *validated_assets, *warehouse_assets], partition_key=DAY.isoformat(),
                         resources=build_resources(pipeline_env))
    assert result.success
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    loaded = _export_valid_rows(database_url, csv_dir)
    assert all(loaded[t] > 0 for t in TABLES)

    home = tmp_path / "home"
    home.mkdir()
    first = run_phase(empty_database, csv_dir, home)
    again = run_phase(empty_database, csv_dir, home)

    assert first["rows"] == loaded and again["rows"] == loaded  # merged on the keys: the rerun adds nothing
    assert "merge/upsert" in first["config"] and "loader_file_format=csv" in first["config"]
    assert first["seconds"] > 0 and first["peak_rss_mb"] > 0
    assert sorted(p.name for p in home.rglob("*")) == ["cwd"]  # no ~/.dlt, no .dlt/ in the cwd

    types = dict(rows(empty_database, "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = 'warehouse'"))
    assert types["customers.attributes"] == "jsonb"
    assert types["products.unit_price"] == "numeric"
    assert types["orders.updated_at"] == "timestamp with time zone"
    assert types["order_items._partition"] == "date"
    same = "SELECT customer_id, attributes, updated_at, _source_key, _partition FROM warehouse.customers ORDER BY 1"
    assert rows(empty_database, same) == rows(database_url, same)
    items = "SELECT order_id, line_no, quantity, unit_price FROM warehouse.order_items ORDER BY 1, 2"
    assert rows(empty_database, items) == rows(database_url, items)
