"""The per-file load audit in ``ops.load_audit``: rows in, rows loaded, rows quarantined, and why.

Per file (``source_key`` and the S3 ``version_id`` read): ``rows_loaded`` are its valid rows offered
to the warehouse merge; once merged they split into ``rows_inserted`` (new keys), ``rows_updated``,
``rows_unchanged`` (the warehouse already held that exact row) and ``rows_superseded`` (lost to a
newer version already stored), as the latest load of the partition found them. CHECK constraints
enforce rows_in = rows_loaded + rows_quarantined and rows_loaded = the sum of the four.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from psycopg.types.json import Jsonb

from pipeline_defs.batch.validate import PartitionReport
from pipeline_defs.state import MERGE_COUNTS

VALIDATED, LOADED, QUARANTINED = "validated", "loaded", "quarantined"
MERGE_OUTCOMES = tuple(name.removeprefix("rows_") for name in MERGE_COUNTS)  # inserted, updated, …


def record_validation(cur, report: PartitionReport, run_id: str | None) -> None:
    """Replace the partition's audit rows with this validation's outcome (caller's transaction)."""
    cur.execute("DELETE FROM ops.load_audit WHERE dataset = %s AND partition_date = %s",
                (report.dataset, report.partition))
    cur.executemany(
        "INSERT INTO ops.load_audit (dataset, partition_date, source_key, etag, version_id, size_bytes, status, reason,"
        " rows_in, rows_loaded, rows_quarantined, top_reasons, extra_fields, run_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (report.dataset, report.partition, f.key, f.etag, f.version_id, f.size,
             QUARANTINED if f.reason else VALIDATED,
             f.reason, f.rows_in, f.rows_valid, f.rows_quarantined, Jsonb(dict(f.reasons.most_common(10))),
             Jsonb(dict(f.extra_fields)), run_id)
            for f in report.files
        ],
    )


def record_merge(cur, dataset: str, partition: date, outcomes: dict[str, Counter], run_id: str | None) -> None:
    """Mark the partition's validated files loaded and store every file's merge outcome
    (``outcomes``: source key → counts per outcome; a file with no staged rows gets zeros)."""
    cur.execute("SELECT source_key, rows_loaded FROM ops.load_audit WHERE dataset = %s AND partition_date = %s",
                (dataset, partition))
    expected = dict(cur.fetchall())
    keys = list(expected)
    wrong = {key: (rows, sum(outcomes.get(key, Counter()).values())) for key, rows in expected.items()
             if rows != sum(outcomes.get(key, Counter()).values())}
    if wrong:
        raise ValueError(f"{dataset} {partition}: the staged rows do not match the audit of the last validation "
                         f"(file: audited, staged) {wrong}; re-materialise validated/{dataset} for this day")
    cur.executemany(
        "UPDATE ops.load_audit SET status = CASE WHEN status = %s THEN %s ELSE status END,"
        " rows_inserted = %s, rows_updated = %s, rows_unchanged = %s, rows_superseded = %s,"
        " run_id = coalesce(%s, run_id), processed_at = now()"
        " WHERE dataset = %s AND partition_date = %s AND source_key = %s",
        [(VALIDATED, LOADED, *(outcomes.get(key, Counter())[o] for o in MERGE_OUTCOMES), run_id,
          dataset, partition, key) for key in keys],
    )


def partition_audit(cur, dataset: str, partition: date) -> list[dict]:
    cur.execute(
        "SELECT source_key, etag, version_id, size_bytes, status, reason, rows_in, rows_loaded, rows_quarantined,"
        " rows_inserted, rows_updated, rows_unchanged, rows_superseded, top_reasons"
        " FROM ops.load_audit WHERE dataset = %s AND partition_date = %s ORDER BY source_key",
        (dataset, partition),
    )
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def merge_table(files: list[dict]) -> str:
    """Markdown: each file of :func:`partition_audit` with its row equation and merge outcome."""
    lines = ["| file | version | rows in | quarantined | loaded | inserted | updated | unchanged | superseded |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| `{f['source_key']}` | {f['version_id'] or ''} | {f['rows_in']:,} | {f['rows_quarantined']:,} "
              f"| {f['rows_loaded']:,} | " + " | ".join(f"{f[f'rows_{o}'] or 0:,}" for o in MERGE_OUTCOMES) + " |"
              for f in files]
    return "\n".join(lines)


def dumps(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)
