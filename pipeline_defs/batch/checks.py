"""Data-quality queries behind the warehouse asset checks (plain SQL, testable without Dagster).

``staged_duplicates`` and ``audited_valid_rows`` run on the staged partition before the merge
(the blocking checks in ``assets/warehouse.py``); the others on the warehouse after it.

Table and column names come only from the contracts and the REFERENCES allow-list below.
"""

from __future__ import annotations

from datetime import date

from psycopg import sql

# child table, column -> parent table, column (orphans warn, they do not block)
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("orders", "customer_id"): ("customers", "customer_id"),
    ("order_items", "sku"): ("products", "sku"),
    ("customers", "referred_by"): ("customers", "customer_id"),
}


def duplicate_keys(cur, table: str, key: tuple[str, ...], partition: date) -> int:
    """Rows of the partition whose key appears more than once (the primary key should make this 0)."""
    cols = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    # GROUP BY hashes; count(DISTINCT …) would sort the whole partition
    cur.execute(sql.SQL(
        "SELECT coalesce(sum(n - 1), 0)::bigint FROM (SELECT count(*) AS n FROM {table} WHERE _partition = %s"
        " GROUP BY {cols} HAVING count(*) > 1) dupes"
    ).format(cols=cols, table=sql.Identifier("warehouse", table)), (partition,))
    return cur.fetchone()[0]


def orphans(cur, table: str, column: str, partition: date) -> tuple[int, list[str]]:
    """How many of the partition's rows point at a missing parent, with a few examples."""
    parent, parent_col = REFERENCES[(table, column)]
    cur.execute(sql.SQL(
        "SELECT c.{col}::text FROM {child} c LEFT JOIN {parent} p ON p.{pcol} = c.{col}"
        " WHERE c._partition = %s AND c.{col} IS NOT NULL AND p.{pcol} IS NULL"
    ).format(col=sql.Identifier(column), child=sql.Identifier("warehouse", table),
             parent=sql.Identifier("warehouse", parent), pcol=sql.Identifier(parent_col)), (partition,))
    values = [row[0] for row in cur.fetchall()]
    return len(values), sorted(set(values))[:5]


def references_of(table: str) -> list[str]:
    return [column for (child, column) in REFERENCES if child == table]


def staged_duplicates(cur, stage: sql.Composable, key: tuple[str, ...]) -> tuple[int, list[str]]:
    """Rows of a staging table whose key appears more than once, with a few example keys."""
    cols = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    cur.execute(sql.SQL(
        "SELECT concat_ws('/', {cols}), n - 1 FROM (SELECT {cols}, count(*) AS n FROM {stage}"
        " GROUP BY {cols} HAVING count(*) > 1) dupes ORDER BY 1"
    ).format(cols=cols, stage=stage))
    rows = cur.fetchall()
    return sum(extra for _, extra in rows), [example for example, _ in rows[:5]]


def audited_valid_rows(cur, dataset: str, partition: date) -> int:
    """The rows validation counted valid for the partition (``ops.load_audit.rows_loaded``)."""
    cur.execute("SELECT coalesce(sum(rows_loaded), 0)::bigint FROM ops.load_audit"
                " WHERE dataset = %s AND partition_date = %s", (dataset, partition))
    return cur.fetchone()[0]
