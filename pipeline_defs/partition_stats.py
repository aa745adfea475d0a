"""Rows and non-null values per contract column, per warehouse table and partition day:
``analytics.partition_stats`` (migration ``0008``), read by ``data_integrity_analysis`` for its null
rates instead of reading every row of the partitions in its range.

A warehouse load of partition P refreshes P's stats for the dataset's tables, in the load's
transaction (``refresh_after_load``, called by ``assets/warehouse.py``), and those of the partitions
it took rows from. Rows only ever enter a partition by a load of that partition; a load of P may take
rows *out* of another partition Q (a later version moved to P), which lowers Q's live row count — so
that is how the moved-from partitions are found (one grouped count over the table's ``_partition``
index), and how the API tells current stats (stored rows = live rows) from ones it must count live
(rows written outside the loader).
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from pipeline_defs.contracts import CONTRACTS, Contract, columns

_LOCK_ID = 7_310_004  # migrations 7_310_001, rollups 7_310_002, customer matching 7_310_003


def tables(contract: Contract) -> list[str]:
    return [contract.table, *(child.table for child in contract.children)]


def _counted(contract: Contract, table: str) -> list[str]:
    return [c for c in columns(contract, None if table == contract.table else table) if c != "extra"]


def _refresh(contract: Contract, table: str, partitions: list[date] | None) -> sql.Composed:
    cols = _counted(contract, table)
    non_null = sql.SQL(", ").join(sql.SQL("{l}, count({c})").format(l=sql.Literal(c), c=sql.Identifier(c)) for c in cols)
    where = sql.SQL("WHERE _partition = ANY({}::date[])").format(sql.Literal(partitions)) if partitions is not None \
        else sql.SQL("")
    return sql.SQL(
        "INSERT INTO analytics.partition_stats (table_name, partition, rows, non_null, refreshed_at)"
        " SELECT {t}, _partition, count(*), jsonb_build_object({non_null}), now() FROM {ref} {where}"
        " GROUP BY _partition"
        " ON CONFLICT (table_name, partition) DO UPDATE SET rows = excluded.rows, non_null = excluded.non_null,"
        " refreshed_at = excluded.refreshed_at"
    ).format(t=sql.Literal(table), non_null=non_null, ref=sql.Identifier("warehouse", table), where=where)


def _shrunk(table: str) -> sql.Composed:
    """Partitions whose stored row count no longer matches: rows a load moved to its own partition."""
    return sql.SQL(
        "SELECT s.partition FROM analytics.partition_stats s"
        " LEFT JOIN (SELECT _partition, count(*) AS n FROM {ref} GROUP BY _partition) l ON l._partition = s.partition"
        " WHERE s.table_name = {t} AND s.rows <> coalesce(l.n, 0)"
    ).format(ref=sql.Identifier("warehouse", table), t=sql.Literal(table))


def refresh_after_load(conn: psycopg.Connection, dataset: str, partition: date) -> None:
    """Recompute the partition's stats for the dataset's tables (in the caller's transaction)."""
    contract = CONTRACTS[dataset]
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        for table in tables(contract):
            cur.execute(_shrunk(table))
            partitions = sorted({partition, *(row[0] for row in cur.fetchall())})
            cur.execute("DELETE FROM analytics.partition_stats WHERE table_name = %s AND partition = ANY(%s)",
                        (table, partitions))
            cur.execute(_refresh(contract, table, partitions))


def rebuild(conn: psycopg.Connection) -> None:
    """Recompute every partition's stats (in the caller's transaction)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        cur.execute("DELETE FROM analytics.partition_stats")
        for contract in CONTRACTS.values():
            for table in tables(contract):
                cur.execute(_refresh(contract, table, None))
