"""Merge one dataset-partition from the Parquet lake into the warehouse.

Per table: ``COPY`` the partition into a temporary staging table, then a single
``INSERT … ON CONFLICT … DO UPDATE`` — all tables of the dataset in ONE transaction, so a failure
(or a database outage) leaves no partial partition, and a retry completes it. A later
``updated_at`` wins; an unchanged row is not rewritten, so re-runs are no-ops on disk.
Child rows (order_items) are replaced for exactly the parents that won the merge.
"""

from __future__ import annotations

import io
import queue
import threading
from dataclasses import dataclass
from datetime import date
from typing import Generator, Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from pipeline_defs.batch import audit
from pipeline_defs.batch.lake import read_partition
from pipeline_defs.contracts import LINEAGE_COLUMNS, Contract, columns

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")


@dataclass
class TableLoad:
    table: str
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # child rows replaced


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


def _merge_main(cur, contract: Contract, stage: sql.Identifier, names: list[str], result: TableLoad) -> None:
    key = list(contract.key)
    non_key = [n for n in names if n not in key]
    target = _ident("warehouse", contract.table)
    # the parents that win, computed before the merge, decide which children are replaced
    if contract.children:
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE won ON COMMIT DROP AS SELECT {sk} FROM {stage} s LEFT JOIN {target} w USING ({k})"
            " WHERE w.{k0} IS NULL OR {guard}"
        ).format(sk=_col_list(key, "s"), stage=stage, target=target, k=_col_list(key),
                 k0=sql.Identifier(key[0]), guard=_guard(contract, "w", "s")))
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
    result.inserted, result.updated = cur.fetchone()
    result.unchanged = result.staged - result.inserted - result.updated


def _replace_children(cur, contract: Contract, table: str, stage: sql.Identifier, names: list[str],
                      result: TableLoad) -> None:
    key = list(contract.key)
    target = _ident("warehouse", table)
    cur.execute(sql.SQL("DELETE FROM {target} c USING won WHERE {join}").format(
        target=target, join=sql.SQL(" AND ").join(
            sql.SQL("c.{k} = won.{k}").format(k=sql.Identifier(k)) for k in key)))
    result.deleted = cur.rowcount
    cur.execute(sql.SQL("INSERT INTO {target} ({cols}) SELECT {scols} FROM {stage} s JOIN won USING ({k})").format(
        target=target, cols=_col_list(names), scols=_col_list(names, "s"), stage=stage, k=_col_list(key)))
    result.inserted = cur.rowcount


def load_partition(conn, s3, processed_bucket: str, contract: Contract, partition: date,
                   run_id: str | None = None, gate=None) -> list[TableLoad] | None:
    """Merge the partition's lake files into the warehouse in one transaction.

    Every table is staged first; ``gate(cur, {table: (staging table, rows)})`` then sees them before
    anything is merged, and when it returns False the transaction rolls back and None is returned."""
    tables = [contract.table, *(child.table for child in contract.children)]
    with conn.transaction() as tx, conn.cursor() as cur:
        staged = {}
        for table in tables:
            names = columns(contract, table) + list(LINEAGE_COLUMNS)
            staged[table] = (*_stage(cur, table, names, read_partition(s3, processed_bucket, table, partition)), names)
        if gate is not None and not gate(cur, {table: (stage, rows) for table, (stage, rows, _) in staged.items()}):
            raise psycopg.Rollback(tx)
        stage, rows, names = staged[contract.table]
        main = TableLoad(contract.table, staged=rows)
        _merge_main(cur, contract, stage, names, main)
        results = [main]
        for child in contract.children:
            stage, rows, names = staged[child.table]
            load = TableLoad(child.table, staged=rows)
            _replace_children(cur, contract, child.table, stage, names, load)
            results.append(load)
        audit.mark_loaded(cur, contract.name, partition, run_id)
        return results
    return None  # reached only when the gate rolled the transaction back
