"""Validate one dataset-partition: raw files → staged Parquet + quarantine, in bounded memory.

Files are streamed chunk by chunk through the contract's vectorised validator into a local spill
file per table. Within the partition a key keeps its latest version (``updated_at``, then file and
row order); the others are quarantined as ``duplicate:key``. A file that turns out to be broken
half-way (e.g. a truncated JSON array) is rejected as a whole: none of its rows are staged.
For every file, rows_in = rows_valid + rows_quarantined.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from pipeline_defs.batch.lake import LINEAGE_SCHEMA, write_partition
from pipeline_defs.batch.quarantine import QuarantineSink
from pipeline_defs.batch.raw_files import RawFile
from pipeline_defs.contracts import Contract, FileRejected, arrow_schema, iter_records, validate_chunk
from pipeline_defs.contracts.limits import Limits
from pipeline_defs.settings import get_settings

TRACK_FILE, TRACK_ROW = "__file", "__row"
ROW_BITS = 40  # rows per file < 2**40; (file, row) packed into one int64 for fast set membership


@dataclass
class FileReport:
    key: str
    etag: str
    size: int
    version_id: str | None = None  # the S3 version read (the one listed)
    rows_in: int = 0
    rows_quarantined: int = 0
    reason: str | None = None  # set when the whole file was rejected
    reasons: Counter = field(default_factory=Counter)
    extra_fields: Counter = field(default_factory=Counter)

    @property
    def rows_valid(self) -> int:
        return self.rows_in - self.rows_quarantined


@dataclass
class PartitionReport:
    dataset: str
    partition: date
    files: list[FileReport]
    rows_written: dict[str, int] = field(default_factory=dict)
    parquet_keys: dict[str, list[str]] = field(default_factory=dict)
    quarantine_keys: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_valid(self) -> int:
        return sum(f.rows_valid for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def reasons(self) -> Counter:
        return sum((f.reasons for f in self.files), Counter())

    @property
    def extra_fields(self) -> Counter:
        return sum((f.extra_fields for f in self.files), Counter())


def _pack(files: pa.Array, rows: pa.Array) -> pa.Array:
    return pc.add(pc.shift_left(pc.cast(files, pa.int64()), ROW_BITS), pc.cast(rows, pa.int64()))


class _Spill:
    """Per-table local Parquet spill files with the tracking columns."""

    def __init__(self, contract: Contract, partition: date, workdir: Path):
        self.tables = [contract.table, *(child.table for child in contract.children)]
        self.schemas = {t: arrow_schema(contract, t) for t in self.tables}
        self.lineage = LINEAGE_SCHEMA
        self.partition = partition
        self.paths = {t: workdir / f"spill-{t}.parquet" for t in self.tables}
        self.writers = {
            t: pq.ParquetWriter(str(self.paths[t]), pa.unify_schemas(
                [self.schemas[t], self.lineage, pa.schema([(TRACK_FILE, pa.int64()), (TRACK_ROW, pa.int64())])]))
            for t in self.tables
        }

    def lake_schema(self, table: str) -> pa.Schema:
        return pa.unify_schemas([self.schemas[table], self.lineage])

    def write(self, table: str, rows: pa.Table, source_key: str, file_index: int, row_numbers: np.ndarray) -> None:
        n = rows.num_rows
        rows = rows.append_column("_source_key", pa.array([source_key] * n, pa.string()))
        rows = rows.append_column("_partition", pa.array([self.partition] * n, pa.date32()))
        rows = rows.append_column(TRACK_FILE, pa.array(np.full(n, file_index, dtype=np.int64)))
        rows = rows.append_column(TRACK_ROW, pa.array(row_numbers.astype(np.int64)))
        self.writers[table].write_table(rows.cast(self.writers[table].schema))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def batches(self, table: str) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(str(self.paths[table])).iter_batches(batch_size=128_000)


def _valid_row_numbers(first_row: int, count: int, rejected: set[int]) -> np.ndarray:
    rows = np.arange(first_row, first_row + count, dtype=np.int64)
    if rejected:
        rows = rows[~np.isin(rows, np.fromiter(rejected, dtype=np.int64))]
    return rows


def _child_parent_rows(child: pa.Table, parent_rows: np.ndarray) -> np.ndarray:
    """Children are emitted grouped by parent in parent order, each group starting at line_no 1."""
    if child.num_rows == 0:
        return np.empty(0, dtype=np.int64)
    starts = pc.equal(child.column("line_no"), 1).to_numpy(zero_copy_only=False)
    return parent_rows[np.cumsum(starts) - 1]


def _process_file(s3, bucket: str, contract: Contract, spill: _Spill, report: FileReport, file_index: int,
                  key_frames: list[pd.DataFrame], sink: QuarantineSink, chunk_rows: int, limits: Limits) -> None:
    """Validate one file into the spill; on a file-level rejection mark the report (rows are filtered later)."""
    pending: list[tuple[int, str, str]] = []  # this file's row rejects, kept until the file is known good
    key_cols = list(contract.key) + (["updated_at"] if contract.has_updated_at else [])
    try:
        version = {"VersionId": report.version_id} if report.version_id else {}
        body = s3.get_object(Bucket=bucket, Key=report.key, **version)["Body"]
        first_row = 0
        for records in iter_records(body, report.key, chunk_rows=chunk_rows, limits=limits):
            chunk = validate_chunk(contract, records, first_row=first_row, limits=limits)
            rejected = {r.row for r in chunk.rejects}
            pending.extend((r.row, r.reason, r.record) for r in chunk.rejects)
            report.extra_fields.update(chunk.extra_fields)
            main = chunk.tables[contract.table]
            rows = _valid_row_numbers(first_row, chunk.rows_in, rejected)
            spill.write(contract.table, main, report.key, file_index, rows)
            frame = main.select(key_cols).to_pandas()
            frame[TRACK_FILE], frame[TRACK_ROW] = file_index, rows
            key_frames.append(frame)
            for child in contract.children:
                table = chunk.tables[child.table]
                spill.write(child.table, table, report.key, file_index, _child_parent_rows(table, rows))
            first_row += chunk.rows_in
        report.rows_in = first_row
    except FileRejected as exc:
        report.reason = exc.reason
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "NoSuchVersion", "404"):
            raise
        report.reason = "object_deleted"
    if report.reason:
        report.rows_quarantined = report.rows_in
        report.reasons[report.reason] += max(report.rows_in, 1)
        sink.reject_file(report.key, report.reason, report.version_id)
        return
    for row, reason, record in pending:
        sink.add(report.key, row, reason, record)
        report.reasons[reason] += 1
    report.rows_quarantined += len(pending)


def _losers(contract: Contract, key_frames: list[pd.DataFrame], rejected_files: set[int]) -> np.ndarray:
    """Packed (file, row) ids of rows superseded by a later version of the same key."""
    if not key_frames:
        return np.empty(0, dtype=np.int64)
    frame = pd.concat(key_frames, ignore_index=True)
    frame = frame[~frame[TRACK_FILE].isin(rejected_files)]
    order = list(contract.key) + (["updated_at"] if contract.has_updated_at else []) + [TRACK_FILE, TRACK_ROW]
    frame = frame.sort_values(order, na_position="first", kind="mergesort")
    dup = frame.duplicated(subset=list(contract.key), keep="last")
    losers = frame[dup]
    return (losers[TRACK_FILE].to_numpy(np.int64) << ROW_BITS) + losers[TRACK_ROW].to_numpy(np.int64)


def validate_partition(s3, raw_bucket: str, processed_bucket: str, contract: Contract, partition: date,
                       files: list[RawFile], workdir: Path, sink: QuarantineSink,
                       chunk_rows: int = 50_000, limits: Limits | None = None) -> PartitionReport:
    """Validate every file of the partition, stage the valid rows for the merge (pipeline_defs/batch/lake.py)
    and fill ``sink`` with the rejects.

    ``limits`` (default: ``PIPELINE_MAX_*``) bound each file; one over them is rejected alone."""
    limits = limits or get_settings().limits
    reports = [FileReport(key=f.key, etag=f.etag, size=f.size, version_id=f.version_id) for f in files]
    spill = _Spill(contract, partition, workdir)
    key_frames: list[pd.DataFrame] = []
    try:
        for index, report in enumerate(reports):
            _process_file(s3, raw_bucket, contract, spill, report, index, key_frames, sink, chunk_rows, limits)
    finally:
        spill.close()
    rejected_files = {i for i, r in enumerate(reports) if r.reason}
    losers = pa.array(_losers(contract, key_frames, rejected_files), pa.int64())
    rejected = pa.array(sorted(rejected_files), pa.int64())

    def keep(batch: pa.RecordBatch, table: str) -> Iterator[pa.RecordBatch]:
        packed = _pack(batch.column(TRACK_FILE), batch.column(TRACK_ROW))
        superseded = pc.is_in(packed, value_set=losers)
        dropped = pc.or_(superseded, pc.is_in(batch.column(TRACK_FILE), value_set=rejected))
        if table == contract.table and pc.any(superseded).as_py():
            for row in batch.filter(superseded).to_pylist():
                report = reports[row.pop(TRACK_FILE)]
                line = row.pop(TRACK_ROW)
                report.rows_quarantined += 1
                report.reasons["duplicate:key"] += 1
                sink.add(report.key, line, "duplicate:key", json.dumps(row, default=str, sort_keys=True))
        kept = batch.filter(pc.invert(dropped))
        yield kept.select([name for name in kept.schema.names if name not in (TRACK_FILE, TRACK_ROW)])

    partition_report = PartitionReport(dataset=contract.name, partition=partition, files=reports)
    for table in spill.tables:
        counted = 0

        def counted_batches(table=table):
            nonlocal counted
            for batch in spill.batches(table):
                for kept in keep(batch, table):
                    counted += kept.num_rows
                    yield kept

        partition_report.parquet_keys[table] = write_partition(
            s3, processed_bucket, table, partition, spill.lake_schema(table), counted_batches(), workdir, staged=True)
        partition_report.rows_written[table] = counted
    return partition_report
