"""Merge one dataset-partition's staged rows into the warehouse, then rewrite its lake partition.

Per table: ``COPY`` the staged Parquet into a temporary staging table, classify every staged row
against the warehouse (inserted / updated / unchanged / superseded by a newer version), then a
single ``INSERT … ON CONFLICT … DO UPDATE`` — all tables of the dataset in ONE transaction, so a
failure (or a database outage) leaves no partial partition, and a retry completes it. A later
``updated_at`` wins; an unchanged row is not rewritten, so re-runs are no-ops on disk. Child rows
(order_items) are replaced for exactly the parents that won the merge. Still in that transaction,
the lake partition — and every partition whose rows this load took over — is rewritten from the
merged tables (``pipeline_defs/batch/lake.py``), and the per-file outcome goes to the audit.
"""

from __future__ import annotations

import io
import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Generator, Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from pipeline_defs.batch import audit
from pipeline_defs.batch.lake import read_partition, write_from_warehouse
from pipeline_defs.contracts import LINEAGE_COLUMNS, Contract, columns

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")
# With hashtext(dataset): one merge per dataset at a time, so the outcome is exact. Its own number:
# migrations 7_310_001, rollups 7_310_002, customer matching 7_310_003, partition stats 7_310_004.
_LOAD_LOCK = 7_310_005


@dataclass
class TableLoad:
    table: str
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0  # staged rows that lost to a newer version already in the warehouse
    deleted: int = 0  # child rows replaced
    lake: dict[date, list[str]] = field(default_factory=dict)  # lake partitions rewritten → their keys


def _ident(schema: str, table: str) -> sql.Composed:
    return sql.Identifier(schema, table)


def _col_list(names: list[str], prefix: str | None = None) -> sql.Composed:
    if prefix:
        return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _csv_chunks(batches, names: list[str]) -> Iterator[tuple[int, memoryview]]:
    for batch in batches:
        if batch.num_rows:
            buffer = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]).select(names), buffer, _CSV)
            yield batch.num_rows, buffer.getbuffer()


def _prefetched(chunks: Generator, depth: int = 3) -> Iterator:
    """Run ``chunks`` in a thread, ``depth`` items ahead: reading Parquet and writing CSV release
    the GIL, so they overlap with PostgreSQL parsing the previous chunk instead of waiting on it."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in chunks:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)
        finally:
            chunks.close()  # in this thread: the reader's temporary files go with it

    worker = threading.Thread(target=produce, name="copy-prefetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def copy_batches(cur, target: sql.Composable, names: list[str], batches) -> int:
    """Stream Arrow batches into ``target`` with COPY … FORMAT csv; returns the row count."""
    rows = 0
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, _col_list(names))
    with cur.copy(query) as copy:
        for count, data in _prefetched(_csv_chunks(batches, names)):
            copy.write(data)
            rows += count
    return rows


def _stage(cur, table: str, names: list[str], batches) -> tuple[sql.Identifier, int]:
    stage = sql.Identifier(f"stage_{table}")
    cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP")
                .format(stage, _ident("warehouse", table)))
    return stage, copy_batches(cur, stage, names, batches)


def _guard(contract: Contract, target: str, incoming: str) -> sql.Composable:
    """When an incoming row may replace the stored one: a later (or equal) updated_at wins."""
    if not contract.has_updated_at:
        return sql.SQL("TRUE")
    return sql.SQL("({t}.updated_at IS NULL OR {i}.updated_at >= {t}.updated_at)").format(
        t=sql.Identifier(target), i=sql.Identifier(incoming))


def _classify(cur, contract: Contract, stage: sql.Identifier, names: list[str]) -> None:
    """``outcome``: what the merge will do with each staged row, and the partition its key was in.

    The same rule as the merge's: no stored row → inserted; the stored row is newer → superseded;
    equal in every column (lineage included) → unchanged; else updated. The parents that win
    (all but superseded) decide which children are replaced."""
    key = list(contract.key)
    non_key = [n for n in names if n not in key]
    cur.execute(sql.SQL(
        "CREATE TEMP TABLE outcome ON COMMIT DROP AS SELECT {sk}, s._source_key, CASE"
        " WHEN w.{k0} IS NULL THEN 'inserted' WHEN ({guard}) IS NOT TRUE THEN 'superseded'"
        " WHEN ({wnk}) IS NOT DISTINCT FROM ({snk}) THEN 'unchanged' ELSE 'updated' END AS outcome,"
        " w._partition AS was_partition FROM {stage} s LEFT JOIN {target} w USING ({k})"
    ).format(sk=_col_list(key, "s"), k0=sql.Identifier(key[0]), guard=_guard(contract, "w", "s"),
             wnk=_col_list(non_key, "w"), snk=_col_list(non_key, "s"), stage=stage,
             target=_ident("warehouse", contract.table), k=_col_list(key)))
    if contract.children:
        cur.execute("CREATE TEMP TABLE won ON COMMIT DROP AS SELECT * FROM outcome WHERE outcome <> 'superseded'")


def _merge_main(cur, contract: Contract, stage: sql.Identifier, names: list[str], result: TableLoad) -> None:
    key = list(contract.key)
    non_key = [n for n in names if n not in key]
    target = _ident("warehouse", contract.table)
    _classify(cur, contract, stage, names)
    query = sql.SQL(
        "WITH merged AS ("
        " INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {stage}"
        " ON CONFLICT ({k}) DO UPDATE SET ({nk}) = ROW({ex})"
        " WHERE {guard} AND ({tnk}) IS DISTINCT FROM ({ex})"
        " RETURNING (xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    ).format(
        target=target, cols=_col_list(names), stage=stage, k=_col_list(key), nk=_col_list(non_key),
        ex=_col_list(non_key, "excluded"), tnk=_col_list(non_key, "t"), guard=_guard(contract, "t", "excluded"),
    )
    cur.execute(query)
    merged = cur.fetchone()
    cur.execute("SELECT outcome, count(*) FROM outcome GROUP BY 1")
    counts = Counter(dict(cur.fetchall()))
    result.inserted, result.updated, result.unchanged, result.superseded = (counts[o] for o in audit.MERGE_OUTCOMES)
    if merged != (result.inserted, result.updated) or sum(counts.values()) != result.staged:
        raise RuntimeError(f"warehouse.{contract.table}: the merge inserted/updated {merged}, "
                           f"but {dict(counts)} of {result.staged} staged rows were expected")


def _file_outcomes(cur) -> dict[str, Counter]:
    cur.execute("SELECT _source_key, outcome, count(*) FROM outcome GROUP BY 1, 2")
    found: dict[str, Counter] = {}
    for source_key, outcome, count in cur.fetchall():
        found.setdefault(source_key, Counter())[outcome] = count
    return found


def _displaced(cur, partition: date) -> set[date]:
    """Other partitions whose rows this load took over (their lake partitions shrink)."""
    cur.execute("SELECT DISTINCT was_partition FROM outcome WHERE outcome = 'updated' AND was_partition <> %s",
                (partition,))
    return {row[0] for row in cur.fetchall()}


def _replace_children(cur, contract: Contract, table: str, stage: sql.Identifier, names: list[str],
                      result: TableLoad) -> set[date]:
    """Replace the children of the parents that won; returns the partitions the replaced ones were in."""
    key = list(contract.key)
    target = _ident("warehouse", table)
    cur.execute(sql.SQL("DELETE FROM {target} c USING won WHERE {join} RETURNING c._partition").format(
        target=target, join=sql.SQL(" AND ").join(
            sql.SQL("c.{k} = won.{k}").format(k=sql.Identifier(k)) for k in key)))
    was = [row[0] for row in cur.fetchall()]
    result.deleted = len(was)
    cur.execute(sql.SQL("INSERT INTO {target} ({cols}) SELECT {scols} FROM {stage} s JOIN won USING ({k})").format(
        target=target, cols=_col_list(names), scols=_col_list(names, "s"), stage=stage, k=_col_list(key)))
    result.inserted = cur.rowcount
    result.superseded = result.staged - result.inserted  # children of parents that lost the merge
    return set(was)


def load_partition(conn, s3, processed_bucket: str, contract: Contract, partition: date, workdir: Path,
                   run_id: str | None = None, gate=None) -> list[TableLoad] | None:
    """Merge the partition's staged rows into the warehouse and rewrite the lake partitions it
    changed, in one transaction; the audit gets each file's outcome.

    Every table is staged first; ``gate(cur, {table: (staging table, rows)})`` then sees them before
    anything is merged, and when it returns False the transaction rolls back and None is returned."""
    tables = [contract.table, *(child.table for child in contract.children)]
    with conn.transaction() as tx, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOAD_LOCK, contract.name))
        staged = {}
        for table in tables:
            names = columns(contract, table) + list(LINEAGE_COLUMNS)
            staged[table] = (*_stage(cur, table, names, read_partition(s3, processed_bucket, table, partition,
                                                                       staged=True)), names)
        if gate is not None and not gate(cur, {table: (stage, rows) for table, (stage, rows, _) in staged.items()}):
            raise psycopg.Rollback(tx)
        stage, rows, names = staged[contract.table]
        main = TableLoad(contract.table, staged=rows)
        _merge_main(cur, contract, stage, names, main)
        main.lake = dict.fromkeys({partition} | _displaced(cur, partition))
        results = [main]
        for child in contract.children:
            stage, rows, names = staged[child.table]
            load = TableLoad(child.table, staged=rows)
            load.lake = dict.fromkeys({partition} | _replace_children(cur, contract, child.table, stage, names, load))
            results.append(load)
        audit.record_merge(cur, contract.name, partition, _file_outcomes(cur), run_id)
        for load in results:  # last: nothing after this can fail but the commit (a retry rewrites the same)
            for day in sorted(load.lake):
                load.lake[day] = write_from_warehouse(cur, s3, processed_bucket, contract, load.table, day, workdir)
        return results
    return None  # reached only when the gate rolled the transaction back
