"""The per-file load audit in ``ops.load_audit``: rows in, rows loaded, rows quarantined, and why.

The table's CHECK constraint enforces rows_in = rows_loaded + rows_quarantined for every file.
"""

from __future__ import annotations

import json
from datetime import date

from psycopg.types.json import Jsonb

from pipeline_defs.batch.validate import PartitionReport

VALIDATED, LOADED, QUARANTINED = "validated", "loaded", "quarantined"


def record_validation(cur, report: PartitionReport, run_id: str | None) -> None:
    """Replace the partition's audit rows with this validation's outcome (caller's transaction)."""
    cur.execute("DELETE FROM ops.load_audit WHERE dataset = %s AND partition_date = %s",
                (report.dataset, report.partition))
    cur.executemany(
        "INSERT INTO ops.load_audit (dataset, partition_date, source_key, etag, size_bytes, status, reason,"
        " rows_in, rows_loaded, rows_quarantined, top_reasons, extra_fields, run_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (report.dataset, report.partition, f.key, f.etag, f.size, QUARANTINED if f.reason else VALIDATED,
             f.reason, f.rows_in, f.rows_valid, f.rows_quarantined, Jsonb(dict(f.reasons.most_common(10))),
             Jsonb(dict(f.extra_fields)), run_id)
            for f in report.files
        ],
    )


def mark_loaded(cur, dataset: str, partition: date, run_id: str | None) -> int:
    cur.execute(
        "UPDATE ops.load_audit SET status = %s, run_id = coalesce(%s, run_id), processed_at = now()"
        " WHERE dataset = %s AND partition_date = %s AND status = %s",
        (LOADED, run_id, dataset, partition, VALIDATED),
    )
    return cur.rowcount


def partition_audit(cur, dataset: str, partition: date) -> list[dict]:
    cur.execute(
        "SELECT source_key, etag, size_bytes, status, reason, rows_in, rows_loaded, rows_quarantined, top_reasons"
        " FROM ops.load_audit WHERE dataset = %s AND partition_date = %s ORDER BY source_key",
        (dataset, partition),
    )
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def dumps(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)
