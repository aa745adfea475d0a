"""The allow-list of SQL: the ``sql/*.sql`` files, plus a few statements generated from the contracts.

No SQL text ever comes from a request. Values are bound parameters; the only identifiers composed
into SQL are table and column names from the data contracts (``pipeline_defs.contracts``, bundled
into the Lambda) and the schema names below, quoted with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from pipeline_defs.contracts import CONTRACTS, columns

SQL_DIR = Path(__file__).resolve().parent / "sql"
TEMPLATES: dict[str, str] = {path.stem: path.read_text() for path in sorted(SQL_DIR.glob("*.sql"))}
SCHEMAS = ("warehouse", "analytics", "ops")
OPS_TABLES = ("load_audit", "quarantine")

# warehouse table -> (dataset it belongs to, its columns), from the contracts
WAREHOUSE_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {}
for _contract in CONTRACTS.values():
    WAREHOUSE_TABLES[_contract.table] = (_contract.name, tuple(columns(_contract)))
    for _child in _contract.children:
        WAREHOUSE_TABLES[_child.table] = (_contract.name, tuple(columns(_contract, _child.table)))


def template(name: str) -> str:
    return TEMPLATES[name]


def _table(schema: str, table: str) -> sql.Composable:
    return sql.Identifier(schema, table)


def row_counts() -> sql.Composed:
    """Exact row counts of the warehouse and ops tables, one UNION ALL statement."""
    parts = [sql.SQL("SELECT {s} AS schema, {t} AS table, count(*) AS rows FROM {ref}").format(
        s=sql.Literal(schema), t=sql.Literal(table), ref=_table(schema, table))
        for schema, table in [*(("warehouse", t) for t in WAREHOUSE_TABLES), *(("ops", t) for t in OPS_TABLES)]]
    return sql.SQL(" UNION ALL ").join(parts)


def null_counts(table: str) -> sql.Composed:
    """Rows and non-null values per contract column among rows of the partition days %(days)s."""
    _, cols = WAREHOUSE_TABLES[table]
    counted = sql.SQL(", ").join(
        sql.SQL("count({c}) AS {a}").format(c=sql.Identifier(c), a=sql.Identifier(c)) for c in cols if c != "extra")
    return sql.SQL("SELECT count(*) AS rows, {counted} FROM {ref} WHERE _partition = ANY(%(days)s::date[])"
                   ).format(counted=counted, ref=_table("warehouse", table))


def partition_counts() -> sql.Composed:
    """Warehouse rows per table and partition day in the range."""
    parts = [sql.SQL("SELECT {t} AS table, _partition AS day, count(*) AS rows FROM {ref}"
                     " WHERE _partition BETWEEN %(start_date)s AND %(end_date)s GROUP BY _partition").format(
        t=sql.Literal(table), ref=_table("warehouse", table)) for table in WAREHOUSE_TABLES]
    return sql.SQL(" UNION ALL ").join(parts)
