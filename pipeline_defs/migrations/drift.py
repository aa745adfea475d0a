"""Schema drift: the warehouse tables in the database against the tables the contracts declare.

:func:`check_schema` runs after the migrations (``pipeline_defs/migrations/__init__.py``), so a
contract changed without a migration stops the pipeline at start-up with the table, the column and
the migration to add, instead of loading into a table that lacks the column. :func:`add_column`
is that migration for a new nullable field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import psycopg
from psycopg import sql

from pipeline_defs.contracts import CONTRACTS, Contract, column_fields
from pipeline_defs.contracts.model import TYPES
from pipeline_defs.contracts.schema import LINEAGE_DDL, table_names

SCHEMA = "warehouse"
# format_type() spellings of the contract's PostgreSQL types (pipeline_defs/contracts/model.py TYPES)
_CANONICAL = {"timestamptz": "timestamp with time zone"}
_CONTRACT_TYPE = {_CANONICAL.get(t, t): t for t in TYPES.values()}


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool

    def ddl(self) -> str:
        return self.type + (" NOT NULL" if self.not_null else "")


class SchemaDrift(RuntimeError):
    """The database's warehouse tables differ from the contracts; the message says what and how to fix it."""


def expected_columns(contracts: Mapping[str, Contract] = CONTRACTS) -> dict[str, dict[str, Column]]:
    """Table → column → type as the contracts declare them (lineage columns included)."""
    tables: dict[str, dict[str, Column]] = {}
    for contract in contracts.values():
        for table in table_names(contract):
            cols = {f.name: Column(_CANONICAL.get(f.pg_type, f.pg_type), f.required)
                    for f in column_fields(contract, table)}
            for name, ddl in LINEAGE_DDL.items():
                pg_type, _, rest = ddl.partition(" ")
                cols[name] = Column(pg_type, "NOT NULL" in rest)
            tables[table] = cols
    return tables


def database_columns(conn: psycopg.Connection) -> dict[str, dict[str, Column]]:
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
        (SCHEMA,)).fetchall()
    tables: dict[str, dict[str, Column]] = {}
    for table, column, pg_type, not_null in rows:
        tables.setdefault(table, {})[column] = Column(pg_type, not_null)
    return tables


def find_drift(conn: psycopg.Connection, contracts: Mapping[str, Contract] = CONTRACTS) -> list[str]:
    """One line per difference, naming the table, the column and the fix; empty when none."""
    found = database_columns(conn)
    problems = []
    for table, wanted in expected_columns(contracts).items():
        have = found.get(table)
        if have is None:
            problems.append(f"{SCHEMA}.{table} is missing: add a migration that creates it")
            continue
        for name, column in wanted.items():
            if name not in have:
                problems.append(f"{SCHEMA}.{table}.{name} ({column.ddl()}) is in the contract but not in the "
                                f"database: {suggested_migration(table, name, column)}")
            elif have[name] != column:
                problems.append(f"{SCHEMA}.{table}.{name} is {have[name].ddl()} in the database but "
                                f"{column.ddl()} in the contract: add a migration that alters it")
        for name in sorted(set(have) - set(wanted)):
            problems.append(f"{SCHEMA}.{table}.{name} is in the database but in no contract: put the field back "
                            "in the contract, or add a migration that drops the column")
    return problems


def check_schema(conn: psycopg.Connection, contracts: Mapping[str, Contract] = CONTRACTS) -> None:
    problems = find_drift(conn, contracts)
    if problems:
        raise SchemaDrift("the warehouse tables differ from the data contracts "
                          "(pipeline_defs/contracts/datasets.py):\n  " + "\n  ".join(problems))


def suggested_migration(table: str, column: str, wanted: Column) -> str:
    if wanted.not_null:
        return ("a required field needs its existing rows filled: write a migration that adds the column, "
                "backfills it and sets NOT NULL")
    pg_type = _CONTRACT_TYPE.get(wanted.type, wanted.type)
    return (f"append (\"NNNN_{table}_{column}\", add_column(\"{table}\", \"{column}\", \"{pg_type}\")) "
            "to MIGRATIONS in pipeline_defs/migrations/versions.py")


def add_column(table: str, column: str, pg_type: str) -> Callable[[psycopg.Connection], None]:
    """A migration adding one nullable column (a new optional contract field) to ``warehouse.<table>``.

    The type is written into the migration (not read from the contract when it runs), so the
    migration keeps meaning what it meant when it shipped."""
    if pg_type not in TYPES.values():
        raise ValueError(f"{pg_type!r} is not a contract column type: one of {sorted(set(TYPES.values()))}")

    def migration(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(column), sql.SQL(pg_type)))  # type from TYPES

    migration.__doc__ = f"Add the nullable column {SCHEMA}.{table}.{column} ({pg_type})."
    return migration
