"""Batch load benchmark: one day of mixed raw files from S3 into PostgreSQL + the Parquet lake.

Four measurements in the same run, each in its own process (so peak RSS is its own):

* ours      — the real assets (raw → validated → warehouse): download, parse, validate,
              quarantine, Parquet, COPY + merge. Measured as the sensors load a day — one run per
              dataset, ``--workers`` (2) at a time, like the run queue — and also as one single run
              of every dataset in one process (``ours_single_run_*``).
* copy      — the reference: the same valid rows, already as CSV on disk, `COPY`ed into staging and
              merged with one `INSERT … ON CONFLICT` per table (no parsing, no validation, no lake).
* to_sql    — `pandas.DataFrame.to_sql` of the same rows (on a sample, extrapolated by rate).
* dlt       — a `dlt` pipeline upserting the same CSVs (merge on the same keys; see bench.batch_dlt).

Ratios are throughput ratios over the day's input rows. Run: `python -m bench.batch_load --rows 1000000`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 20)
TABLES = ("customers", "products", "orders", "order_items", "web_events", "market_ticks")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _aws_env(moto_url: str) -> None:
    os.environ.update({"AWS_ENDPOINT_URL": moto_url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench"})


def _dataset_assets(dataset: str) -> list:
    """raw → validated → warehouse of one dataset: what one sensor-launched run materialises."""
    from assets.raw import raw_assets
    from assets.validated import validated_assets
    from assets.warehouse import warehouse_assets
    from pipeline_defs.contracts import CONTRACTS

    names = list(CONTRACTS)
    return [group[names.index(dataset)] for group in (raw_assets, validated_assets, warehouse_assets)]


def _materialize(datasets: list[str]) -> None:
    from dagster import materialize

    from pipeline_defs.resources import build_resources
    from pipeline_defs.settings import get_settings

    result = materialize([a for d in datasets for a in _dataset_assets(d)], partition_key=DAY.isoformat(),
                         resources=build_resources(get_settings()))
    assert result.success


def _run_worker(db: str, moto_url: str, jobs, done) -> None:
    """One run process at a time per worker, like the run queue: a dataset-partition per run."""
    _aws_env(moto_url)
    os.environ["PIPELINE_DATABASE_URL"] = db
    _dataset_assets("orders")  # import Dagster and the definitions before the clock starts
    done.put(("ready", 0.0))
    while (dataset := jobs.get()) is not None:
        started = time.perf_counter()
        _materialize([dataset])
        done.put((dataset, time.perf_counter() - started))
    done.put(("peak_rss_mb", _peak_rss_mb()))


def phase_ours(db: str, moto_url: str, workers: int) -> dict:
    """The day as the sensors load it — one run per dataset, ``workers`` at a time — or, with
    ``workers=0``, as a single run of every dataset in this process."""
    _aws_env(moto_url)
    os.environ["PIPELINE_DATABASE_URL"] = db
    from pipeline_defs.contracts import CONTRACTS
    from pipeline_defs.migrations import migrate

    migrate(db)
    if workers == 0:
        _dataset_assets("orders")
        started = time.perf_counter()
        _materialize(list(CONTRACTS))
        return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()}
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    jobs, done = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_run_worker, args=(db, moto_url, jobs, done)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        _expect(_next(done, procs), "ready")
    started = time.perf_counter()
    for dataset in ("web_events", "market_ticks", "orders", "customers", "products"):  # largest first
        jobs.put(dataset)
    for _ in procs:
        jobs.put(None)
    runs, rss = {}, []
    while len(rss) < workers:
        name, value = _next(done, procs)
        if name == "peak_rss_mb":
            rss.append(value)
        else:
            runs[name] = round(value, 2)
            if len(runs) == len(CONTRACTS):
                seconds = time.perf_counter() - started
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"a run worker failed with exit code {proc.exitcode}")
    return {"seconds": seconds, "peak_rss_mb": max(rss), "peak_rss_mb_sum": sum(rss), "runs": runs}


def _next(done, procs) -> tuple:
    """The next worker message; a worker that died instead fails the benchmark at once."""
    import queue

    while True:
        try:
            return done.get(timeout=2)
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a run worker failed with exit code {dead[0]}") from None


def _expect(message: tuple, name: str) -> None:
    if message[0] != name:
        raise SystemExit(f"run worker said {message!r}, expected {name!r}")


def _merge_sql(table: str, columns: list[str], key: tuple[str, ...]) -> str:
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (f"INSERT INTO warehouse.{table} ({cols}) SELECT {cols} FROM stage "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


def phase_copy(db: str, csv_dir: str) -> dict:
    import psycopg

    from pipeline_defs.contracts import CONTRACTS, LINEAGE_COLUMNS, columns
    from pipeline_defs.contracts.schema import table_key
    from pipeline_defs.migrations import migrate

    migrate(db)
    owners = {t: c for c in CONTRACTS.values() for t in (c.table, *(ch.table for ch in c.children))}
    started = time.perf_counter()
    with psycopg.connect(db) as conn:
        for table in TABLES:
            contract = owners[table]
            names = columns(contract, table) + list(LINEAGE_COLUMNS)
            with conn.transaction():
                conn.execute(f"CREATE TEMP TABLE stage (LIKE warehouse.{table}) ON COMMIT DROP")
                with conn.cursor().copy(f"COPY stage ({', '.join(names)}) FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                        open(Path(csv_dir) / f"{table}.csv", "rb") as source:
                    while data := source.read(1 << 20):
                        copy.write(data)
                conn.execute(_merge_sql(table, names, table_key(contract, table)))
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()}


def phase_to_sql(db: str, csv_dir: str, sample: int) -> dict:
    import pandas as pd
    from sqlalchemy import create_engine

    from pipeline_defs.settings import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(db))
    frames = {t: pd.read_csv(Path(csv_dir) / f"{t}.csv", nrows=sample, dtype=str) for t in TABLES}
    rows = sum(len(f) for f in frames.values())
    started = time.perf_counter()
    for table, frame in frames.items():
        frame.to_sql(f"tosql_{table}", engine, if_exists="replace", index=False, chunksize=10_000)
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": _peak_rss_mb()}


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.batch_load", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark phase {args[1]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _export_valid_rows(db: str, csv_dir: Path) -> dict[str, int]:
    """The rows ours loaded, as CSV: the reference loads exactly these."""
    import psycopg

    counts = {}
    with psycopg.connect(db) as conn:
        for table in TABLES:
            with open(csv_dir / f"{table}.csv", "wb") as sink, conn.cursor().copy(
                    f"COPY warehouse.{table} TO STDOUT (FORMAT csv, HEADER true)") as copy:
                for data in copy:
                    sink.write(data)
            counts[table] = conn.execute(f"SELECT count(*) FROM warehouse.{table}").fetchone()[0]
    return counts


def run(rows: int, sample: int, workers: int) -> dict:
    import boto3

    from bench.batch_data import day_files
    from bench.infra import fresh_database, moto, postgres
    from pipeline_defs.local.provision import provision
    from pipeline_defs.settings import load_settings

    with postgres() as cluster, moto() as moto_url, tempfile.TemporaryDirectory(prefix="bench-csv-") as csv_dir:
        _aws_env(moto_url)
        settings = load_settings()
        provision(settings)
        s3 = boto3.client("s3")
        files = raw_bytes = input_rows = 0
        for key, body, count in day_files(rows, DAY):
            s3.put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)
            files, raw_bytes, input_rows = files + 1, raw_bytes + len(body), input_rows + count
        print(f"uploaded {files} files, {raw_bytes / 1e6:.0f} MB, {input_rows:,} input rows", file=sys.stderr)

        ours_db = fresh_database(cluster, "ours")
        single = _child("--phase", "ours", "--db", fresh_database(cluster, "single"), "--moto", moto_url,
                        "--workers", "0")
        ours = _child("--phase", "ours", "--db", ours_db, "--moto", moto_url, "--workers", str(workers))
        loaded = _export_valid_rows(ours_db, Path(csv_dir))
        copy = _child("--phase", "copy", "--db", fresh_database(cluster, "reference"), "--csv", csv_dir)
        to_sql = _child("--phase", "to_sql", "--db", fresh_database(cluster, "tosql"), "--csv", csv_dir,
                        "--sample", str(sample))
        dlt = _child("--phase", "dlt", "--db", fresh_database(cluster, "dlt"), "--csv", csv_dir)
    loaded_rows = sum(loaded.values())
    to_sql_seconds_full = to_sql["seconds"] * loaded_rows / to_sql["rows"]
    return {
        "input_rows": input_rows, "files": files, "raw_mb": round(raw_bytes / 1e6, 1), "loaded_rows": loaded,
        "ours_seconds": round(ours["seconds"], 2), "ours_rows_per_s": round(input_rows / ours["seconds"]),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]), "ours_runs_in_parallel": workers,
        "ours_peak_rss_mb_all_workers": round(ours.get("peak_rss_mb_sum", ours["peak_rss_mb"])),
        "ours_seconds_per_run": ours["runs"],
        "ours_single_run_seconds": round(single["seconds"], 2),
        "ours_single_run_peak_rss_mb": round(single["peak_rss_mb"]),
        "copy_upsert_seconds": round(copy["seconds"], 2),
        "to_sql_seconds_extrapolated": round(to_sql_seconds_full, 1), "to_sql_sample_rows": to_sql["rows"],
        "ratio_vs_copy_upsert": round(copy["seconds"] / ours["seconds"], 3),
        "ratio_vs_to_sql": round(to_sql_seconds_full / ours["seconds"], 2),
        "ratio_vs_copy_upsert_single_run": round(copy["seconds"] / single["seconds"], 3),
        "dlt_seconds": round(dlt["seconds"], 2), "dlt_peak_rss_mb": round(dlt["peak_rss_mb"]),
        "dlt_rows_loaded": dlt["rows"], "dlt_rows_match": dlt["rows"] == loaded, "dlt_config": dlt["config"],
        "ratio_vs_dlt": round(dlt["seconds"] / ours["seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="rows per table for pandas.to_sql")
    parser.add_argument("--workers", type=int, default=2,
                        help="runs at a time for ours (one run per dataset, as the sensors launch them)")
    parser.add_argument("--phase", choices=("ours", "copy", "to_sql", "dlt"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--moto", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "ours":
        print(json.dumps(phase_ours(args.db, args.moto, args.workers)))
    elif args.phase == "copy":
        print(json.dumps(phase_copy(args.db, args.csv)))
    elif args.phase == "to_sql":
        print(json.dumps(phase_to_sql(args.db, args.csv, args.sample)))
    elif args.phase == "dlt":
        from bench.batch_dlt import phase_dlt

        print(json.dumps(phase_dlt(args.db, args.csv, TABLES)))
    else:
        result = run(args.rows, args.sample, args.workers)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
