"""The Parquet lake: one deterministic file set per table and partition, in Hive layout.

``<table>/dt=YYYY-MM-DD/part-00000.parquet`` … holds exactly the warehouse rows of that partition
(``_partition``), written by the load from the merged tables (:func:`write_from_warehouse`), so a
re-upload that loses the merge never reaches it. Validation's output, the rows offered to the merge,
is staged under ``_staged/<table>/dt=…/`` in the same layout (outside every table's folder). A re-run
writes the same names and deletes parts a previous run left over, so readers (Athena, DuckDB) never
see a partition twice.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

from pipeline_defs.contracts import Contract, arrow_schema
from pipeline_defs.contracts.schema import table_key

ROWS_PER_PART = 1_000_000
ROW_GROUP_ROWS = 128_000
STAGED = "_staged/"  # validation's output, read by the merge; not part of any table's folder
LINEAGE_SCHEMA = pa.schema([("_source_key", pa.string()), ("_partition", pa.date32())])


def lake_schema(contract: Contract, table: str) -> pa.Schema:
    return pa.unify_schemas([arrow_schema(contract, table), LINEAGE_SCHEMA])


def partition_prefix(table: str, partition: date, staged: bool = False) -> str:
    return f"{STAGED if staged else ''}{table}/dt={partition.isoformat()}/"


def part_key(table: str, partition: date, index: int, staged: bool = False) -> str:
    return f"{partition_prefix(table, partition, staged)}part-{index:05d}.parquet"


def write_partition(s3, bucket: str, table: str, partition: date, schema: pa.Schema,
                    batches: Iterable[pa.RecordBatch | pa.Table], workdir: Path, staged: bool = False) -> list[str]:
    """Write ``batches`` as the partition's parts (``staged``: under ``_staged/``); returns the keys
    written (at least one part, possibly empty, so an empty partition is visibly empty, not missing)."""
    keys: list[str] = []
    writer: pq.ParquetWriter | None = None
    rows_in_part = 0

    def close_and_upload() -> None:
        nonlocal writer
        if writer is None:
            return
        writer.close()
        key = part_key(table, partition, len(keys), staged)
        s3.upload_file(str(workdir / "part.parquet"), bucket, key)
        keys.append(key)
        writer = None

    for batch in batches:
        table_batch = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        offset = 0
        while offset < table_batch.num_rows:
            if writer is None:
                writer = pq.ParquetWriter(str(workdir / "part.parquet"), schema, compression="zstd")
                rows_in_part = 0
            take = min(ROWS_PER_PART - rows_in_part, table_batch.num_rows - offset)
            writer.write_table(table_batch.slice(offset, take).cast(schema), row_group_size=ROW_GROUP_ROWS)
            rows_in_part += take
            offset += take
            if rows_in_part >= ROWS_PER_PART:
                close_and_upload()
    if writer is None and not keys:
        writer = pq.ParquetWriter(str(workdir / "part.parquet"), schema, compression="zstd")
    close_and_upload()
    _delete_stale(s3, bucket, partition_prefix(table, partition, staged), set(keys))
    return keys


def write_from_warehouse(cur, s3, bucket: str, contract: Contract, table: str, partition: date,
                         workdir: Path) -> list[str]:
    """Rewrite the lake partition from ``warehouse.<table>`` as ``cur`` sees it (inside the load's
    transaction): its rows whose ``_partition`` is ``partition``, in key order, streamed through a
    local CSV file so memory stays bounded. JSON columns carry PostgreSQL's jsonb text."""
    schema = lake_schema(contract, table)
    cur.execute("SET LOCAL TimeZone = 'UTC'")
    cur.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    query = sql.SQL("COPY (SELECT {cols} FROM {table} WHERE _partition = {day} ORDER BY {key})"
                    " TO STDOUT (FORMAT csv, FORCE_QUOTE *)").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, schema.names)), table=sql.Identifier("warehouse", table),
        day=sql.Literal(partition), key=sql.SQL(", ").join(map(sql.Identifier, table_key(contract, table))))
    path = workdir / f"export-{table}.csv"
    with open(path, "wb") as out, cur.copy(query) as copy:
        for data in copy:
            out.write(data)
    batches: Iterable[pa.RecordBatch] = []
    if path.stat().st_size:  # FORCE_QUOTE: a quoted empty string is '', an unquoted empty field is NULL
        batches = pacsv.open_csv(path, read_options=pacsv.ReadOptions(column_names=schema.names, block_size=8 << 20),
                                 convert_options=pacsv.ConvertOptions(
                                     column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
                                     null_values=[""], true_values=["t"], false_values=["f"]))
    try:
        return write_partition(s3, bucket, table, partition, schema, batches, workdir)
    finally:
        path.unlink()


def _delete_stale(s3, bucket: str, prefix: str, keep: set[str]) -> None:
    stale = [
        {"Key": obj["Key"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if obj["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[start:start + 1000], "Quiet": True})


def read_partition(s3, bucket: str, table: str, partition: date, batch_rows: int = ROW_GROUP_ROWS,
                   staged: bool = False) -> Iterator[pa.RecordBatch]:
    """Stream the partition's rows (``staged``: validation's output), part by part, in bounded memory."""
    keys = sorted(
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=partition_prefix(table, partition, staged))
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(".parquet")
    )
    with tempfile.TemporaryDirectory(prefix="lake-") as tmp:
        for key in keys:
            local = Path(tmp) / "part.parquet"
            s3.download_file(bucket, key, str(local))
            yield from pq.ParquetFile(str(local)).iter_batches(batch_size=batch_rows)
