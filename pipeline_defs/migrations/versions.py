"""The migrations, in order. Append new ones; never edit one that has shipped."""

from __future__ import annotations

from typing import Callable

import psycopg


def _0001_schemas_and_ops(conn: psycopg.Connection) -> None:
    """Schemas, the per-file load audit and the quarantine."""
    for schema in ("warehouse", "ops", "analytics"):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # names from this literal allow-list
    conn.execute("""
        CREATE TABLE ops.load_audit (
            dataset          text        NOT NULL,
            partition_date   date        NOT NULL,
            source_key       text        NOT NULL,
            etag             text,
            size_bytes       bigint,
            status           text        NOT NULL,  -- loaded | quarantined (whole file rejected)
            reason           text,                  -- file-level reason when the whole file was rejected
            rows_in          bigint      NOT NULL,
            rows_loaded      bigint      NOT NULL,
            rows_quarantined bigint      NOT NULL,
            top_reasons      jsonb       NOT NULL DEFAULT '{}'::jsonb,
            extra_fields     jsonb       NOT NULL DEFAULT '{}'::jsonb,
            run_id           text,
            processed_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (dataset, partition_date, source_key),
            CONSTRAINT rows_balance CHECK (rows_in = rows_loaded + rows_quarantined)
        )""")
    conn.execute("""
        CREATE TABLE ops.quarantine (
            dataset        text   NOT NULL,
            partition_date date   NOT NULL,
            source_key     text   NOT NULL,
            row_number     bigint NOT NULL,   -- 0-based record index in the file; -1 for a whole file
            reason         text   NOT NULL,
            record         text,
            run_id         text,
            PRIMARY KEY (dataset, partition_date, source_key, row_number)
        )""")
    conn.execute("CREATE INDEX quarantine_reason_idx ON ops.quarantine (dataset, reason)")


def _0002_warehouse_tables(conn: psycopg.Connection) -> None:
    """The canonical tables, generated from the data contracts."""
    from pipeline_defs.contracts import CONTRACTS, create_table_sql

    for contract in CONTRACTS.values():
        for statement in create_table_sql(contract):
            conn.execute(statement)


def _0003_analytics_indexes(conn: psycopg.Connection) -> None:
    """Indexes the analytics and the checks filter and join on."""
    statements = [
        "CREATE INDEX IF NOT EXISTS orders_customer_idx ON warehouse.orders (customer_id)",
        "CREATE INDEX IF NOT EXISTS orders_ts_idx ON warehouse.orders (order_ts)",
        "CREATE INDEX IF NOT EXISTS order_items_sku_idx ON warehouse.order_items (sku)",
        "CREATE INDEX IF NOT EXISTS customers_referred_by_idx ON warehouse.customers (referred_by)",
        "CREATE INDEX IF NOT EXISTS web_events_occurred_idx ON warehouse.web_events (occurred_at)",
        "CREATE INDEX IF NOT EXISTS web_events_type_idx ON warehouse.web_events (event_type, occurred_at)",
        "CREATE INDEX IF NOT EXISTS market_ticks_ts_idx ON warehouse.market_ticks (ts)",
    ]
    for statement in statements:
        conn.execute(statement)


MIGRATIONS: list[tuple[str, Callable[[psycopg.Connection], None]]] = [
    ("0001_schemas_and_ops", _0001_schemas_and_ops),
    ("0002_warehouse_tables", _0002_warehouse_tables),
    ("0003_analytics_indexes", _0003_analytics_indexes),
]
