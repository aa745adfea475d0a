"""The Parquet lake: one deterministic file set per table and partition, in Hive layout.

``<table>/dt=YYYY-MM-DD/part-00000.parquet`` … — a re-run writes the same names and deletes parts
a previous run left over, so readers (Athena, DuckDB) never see a partition twice.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_PART = 1_000_000
ROW_GROUP_ROWS = 128_000


def partition_prefix(table: str, partition: date) -> str:
    return f"{table}/dt={partition.isoformat()}/"


def part_key(table: str, partition: date, index: int) -> str:
    return f"{partition_prefix(table, partition)}part-{index:05d}.parquet"


def write_partition(s3, bucket: str, table: str, partition: date, schema: pa.Schema,
                    batches: Iterable[pa.RecordBatch | pa.Table], workdir: Path) -> list[str]:
    """Write ``batches`` as the partition's parts; returns the keys written (at least one part,
    possibly empty, so a partition with no valid rows is visibly empty rather than missing)."""
    keys: list[str] = []
    writer: pq.ParquetWriter | None = None
    rows_in_part = 0

    def close_and_upload() -> None:
        nonlocal writer
        if writer is None:
            return
        writer.close()
        key = part_key(table, partition, len(keys))
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
    _delete_stale(s3, bucket, partition_prefix(table, partition), set(keys))
    return keys


def _delete_stale(s3, bucket: str, prefix: str, keep: set[str]) -> None:
    stale = [
        {"Key": obj["Key"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if obj["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[start:start + 1000], "Quiet": True})


def read_partition(s3, bucket: str, table: str, partition: date,
                   batch_rows: int = ROW_GROUP_ROWS) -> Iterator[pa.RecordBatch]:
    """Stream the partition's rows, part by part, in bounded memory."""
    keys = sorted(
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=partition_prefix(table, partition))
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(".parquet")
    )
    with tempfile.TemporaryDirectory(prefix="lake-") as tmp:
        for key in keys:
            local = Path(tmp) / "part.parquet"
            s3.download_file(bucket, key, str(local))
            yield from pq.ParquetFile(str(local)).iter_batches(batch_size=batch_rows)
