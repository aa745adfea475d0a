"""Migrations against a real PostgreSQL: 0002 is frozen, drift between the contracts and the database
fails loudly at start-up, and a new nullable contract field is one ``add_column`` migration."""

from dataclasses import replace

import psycopg
import pytest

import pipeline_defs.migrations as migrations
from pipeline_defs.contracts import CONTRACTS, Field, create_table_sql
from pipeline_defs.migrations import SchemaDrift, migrate
from pipeline_defs.migrations.drift import add_column, database_columns, expected_columns, find_drift
from pipeline_defs.migrations.snapshot_0002 import WAREHOUSE_TABLES_0002

LOYALTY = Field("loyalty_tier", "string", description="a field added after the tables shipped")


def _with_loyalty_tier(monkeypatch) -> None:
    """The customers contract as if someone added an optional field to it (on a copy of the contract)."""
    customers = CONTRACTS["customers"]
    monkeypatch.setitem(CONTRACTS, "customers", replace(customers, fields=customers.fields + (LOYALTY,)))


def _schema_shape(conn: psycopg.Connection, schema: str) -> list[tuple]:
    """Columns (type, NOT NULL, position), primary keys and index definitions of a schema, schema name removed."""
    columns = conn.execute(
        "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2",
        (schema,)).fetchall()
    indexes = conn.execute("SELECT replace(indexdef, %s, '') FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
                           (f" {schema}.", schema)).fetchall()
    return columns + indexes


def test_the_migrated_database_matches_the_contracts(database_url):
    with psycopg.connect(database_url) as conn:
        assert find_drift(conn) == []
        tables = database_columns(conn)
    assert set(expected_columns()) <= set(tables)
    assert tables["customers"]["email"].ddl() == "text NOT NULL"
    assert tables["orders"]["order_ts"].ddl() == "timestamp with time zone NOT NULL"


def test_frozen_0002_builds_the_tables_the_contract_derived_0002_built(database_url):
    """Databases created by the old, derived 0002 and new ones get identical tables, keys and indexes."""
    with psycopg.connect(database_url) as conn:
        for schema in ("frozen", "derived"):
            conn.execute(f"CREATE SCHEMA {schema}")
        for statement in WAREHOUSE_TABLES_0002:
            conn.execute(statement.replace(" warehouse.", " frozen."))
        for contract in CONTRACTS.values():
            for statement in create_table_sql(contract, schema="derived"):
                conn.execute(statement)
        frozen, derived = _schema_shape(conn, "frozen"), _schema_shape(conn, "derived")
    assert frozen == derived
    assert len(frozen) > 60


def test_a_contract_field_without_a_migration_fails_at_start_up(database_url, monkeypatch):
    _with_loyalty_tier(monkeypatch)
    with pytest.raises(SchemaDrift) as raised:
        migrate(database_url)
    message = str(raised.value)
    assert "warehouse.customers.loyalty_tier (text) is in the contract but not in the database" in message
    assert 'add_column("customers", "loyalty_tier", "text")' in message
    assert "pipeline_defs/migrations/versions.py" in message


def test_adding_a_nullable_field_is_one_add_column_migration(database_url, monkeypatch):
    _with_loyalty_tier(monkeypatch)
    with psycopg.connect(database_url) as conn:
        assert [p.split(" (")[0] for p in find_drift(conn)] == ["warehouse.customers.loyalty_tier"]
        conn.execute("INSERT INTO warehouse.customers (customer_id, email, country, signup_date, _source_key,"
                     " _partition) VALUES ('C1', 'a@b.co', 'GB', '2026-01-01', 'k', '2026-11-20')")
        conn.commit()
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS + [
        ("0999_customers_loyalty_tier", add_column("customers", "loyalty_tier", "text"))])
    assert migrate(database_url) == ["0999_customers_loyalty_tier"]
    with psycopg.connect(database_url) as conn:
        assert find_drift(conn) == []
        assert conn.execute("SELECT customer_id, loyalty_tier FROM warehouse.customers").fetchall() == [("C1", None)]
    assert migrate(database_url) == []  # applied once


def test_other_drift_is_named_with_its_fix(database_url, monkeypatch):
    customers = CONTRACTS["customers"]
    required = Field("tier", "string", required=True)
    monkeypatch.setitem(CONTRACTS, "customers", replace(
        customers, fields=tuple(f for f in customers.fields if f.name != "city") + (required,)))
    with psycopg.connect(database_url) as conn:
        conn.execute("ALTER TABLE warehouse.products ALTER COLUMN currency DROP NOT NULL")
        problems = find_drift(conn)
    assert problems == [
        "warehouse.customers.tier (text NOT NULL) is in the contract but not in the database: a required field "
        "needs its existing rows filled: write a migration that adds the column, backfills it and sets NOT NULL",
        "warehouse.customers.city is in the database but in no contract: put the field back in the contract, "
        "or add a migration that drops the column",
        "warehouse.products.currency is text in the database but text NOT NULL in the contract: "
        "add a migration that alters it",
    ]


def test_add_column_takes_only_contract_types():
    with pytest.raises(ValueError, match="not a contract column type"):
        add_column("customers", "loyalty_tier", "text; DROP TABLE warehouse.customers")
