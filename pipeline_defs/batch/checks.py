"""Data-quality queries behind the warehouse asset checks (plain SQL, testable without Dagster).

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
