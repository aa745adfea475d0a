"""The `dlt` phase of the batch benchmark: the same valid rows, upserted by a dlt pipeline.

Input is the CSVs the `copy` phase reads (the rows ours loaded, exported from its warehouse), not the
raw files: dlt knows nothing of our contracts (validation, quarantine, order lines split into a child
table, lineage columns), so from the raw files it would load other rows into other tables. Same rows
in, same tables out, so the figure compares the loading machinery. Reading the CSVs into typed Arrow
batches is timed, as `copy` times reading its files.

Configuration — the fastest a dlt user gets from `dlt[postgres]`:

* pyarrow record batches as the resource (no row-by-row normalisation), typed with the warehouse's
  Arrow schema, JSON columns hinted `json` (→ jsonb, as ours);
* `loader_file_format="csv"`: dlt's COPY path (the default, insert_values, took 2.4× as long at
  200k rows; parquet needs the ADBC driver, not in dlt[postgres]: 1.6 s instead of 3.1 s there, but
  it makes JSON columns `json`, not `jsonb`);
* `write_disposition` merge, strategy `upsert` (a MERGE from dlt's staging dataset on the warehouse
  tables' primary keys — what ours does with INSERT … ON CONFLICT; delete-insert was 7–15% slower).

dlt creates no primary-key index (its postgres destination emits only single-column UNIQUE), so it
skips the index maintenance ours pays. Runs offline: telemetry off, dlt's data, pipelines and project
dirs in a temporary folder (no `.dlt/` config picked up from the cwd), credentials from the URL given.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

DATASET = "warehouse"
STRATEGY = "upsert"
FILE_FORMAT = "csv"
BLOCK_BYTES = 16 << 20  # CSV bytes per Arrow batch


def _isolate(root: Path) -> None:
    """Before dlt is imported: no telemetry, nothing read or written outside ``root``."""
    (root / "project").mkdir()
    os.environ.update({
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DLT_DATA_DIR": str(root / "data"),
        "DLT_PROJECT_DIR": str(root / "project"),
        "RUNTIME__LOG_LEVEL": "WARNING",
    })


def _table_specs() -> dict[str, tuple]:
    """table → (Arrow schema incl. lineage columns, primary key, JSON column names)."""
    import pyarrow as pa

    from pipeline_defs.contracts import CONTRACTS, arrow_schema, column_fields
    from pipeline_defs.contracts.schema import table_key

    lineage = [pa.field("_source_key", pa.string(), nullable=False), pa.field("_partition", pa.date32(), nullable=False)]
    specs = {}
    for contract in CONTRACTS.values():
        for table in (contract.table, *(child.table for child in contract.children)):
            schema = pa.schema([*arrow_schema(contract, table), *lineage])
            json_columns = tuple(f.name for f in column_fields(contract, table) if f.type == "json")
            specs[table] = (schema, table_key(contract, table), json_columns)
    return specs


def _batches(path: Path, schema):
    """The CSV as typed Arrow batches (PostgreSQL's CSV: NULL unquoted empty, '' quoted, t/f)."""
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(column_types=schema, true_values=["t"], false_values=["f"],
                                  strings_can_be_null=True, quoted_strings_can_be_null=False)
    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES), convert_options=convert) as reader:
        for batch in reader:
            if batch.num_rows:
                yield batch.cast(schema)  # CSV columns are nullable; the warehouse's NOT NULLs are kept


def count_rows(db: str, tables) -> dict[str, int]:
    import psycopg

    with psycopg.connect(db) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM {DATASET}."{t}"').fetchone()[0] for t in tables}


def phase_dlt(db: str, csv_dir: str, tables) -> dict:
    """Load ``tables`` from ``csv_dir`` into ``db`` with one dlt pipeline run; seconds, rows, peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as root:
        _isolate(Path(root))
        import dlt

        specs = _table_specs()
        resources = []
        for table in tables:
            schema, key, json_columns = specs[table]
            resources.append(dlt.resource(
                _batches(Path(csv_dir) / f"{table}.csv", schema), name=table, primary_key=list(key),
                write_disposition={"disposition": "merge", "strategy": STRATEGY},
                columns={name: {"data_type": "json"} for name in json_columns}))
        pipeline = dlt.pipeline(pipeline_name="bench_batch", pipelines_dir=str(Path(root) / "pipelines"),
                                destination=dlt.destinations.postgres(credentials=db), dataset_name=DATASET)
        started = time.perf_counter()
        info = pipeline.run(resources, loader_file_format=FILE_FORMAT)
        seconds = time.perf_counter() - started
        info.raise_on_failed_jobs()
    return {"seconds": seconds, "rows": count_rows(db, tables),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "config": f"dlt {dlt.__version__}: pyarrow batches, merge/{STRATEGY} on the warehouse keys, "
                      f"loader_file_format={FILE_FORMAT}"}
