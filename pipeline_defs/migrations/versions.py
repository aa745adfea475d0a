"""The migrations, in order. Append new ones; never edit one that has shipped."""

from __future__ import annotations

from typing import Callable

import psycopg
from psycopg import sql

from pipeline_defs.migrations.snapshot_0002 import WAREHOUSE_TABLES_0002


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
    """The canonical tables as the data contracts declared them when this shipped (a frozen copy of
    their DDL: a later contract change needs its own migration, see pipeline_defs/migrations/drift.py)."""
    for statement in WAREHOUSE_TABLES_0002:
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


ANALYTICS_READER = "analytics_reader"  # infra/functions/analytics/analytics_api/db.py uses the same name
READ_SCHEMAS = ("warehouse", "analytics", "ops")


def _0004_analytics_reader(conn: psycopg.Connection) -> None:
    """The analytics API's read-only role, pg_trgm for fuzzy matching, and the indexes its queries use.

    ``analytics_reader`` is NOLOGIN: it only holds SELECT grants. Login users (``analytics_ro`` with a
    generated password in Secrets Manager, made by the local stack or the infra bootstrap) are
    granted it; the API also ``SET ROLE``s to it, so even an owner login reads with these rights only.
    Roles are cluster-wide, hence the tolerant create (several databases may migrate at once).
    """
    conn.execute(f"""
        DO $$ BEGIN
            CREATE ROLE {ANALYTICS_READER} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")
    database = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        sql.Identifier(database), sql.Identifier(ANALYTICS_READER)))
    for schema in READ_SCHEMAS:  # names from this literal allow-list
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ANALYTICS_READER}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {ANALYTICS_READER}")
        conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {ANALYTICS_READER}")

    # Covering indexes: revenue figures over a date range read only the index (no heap visits).
    conn.execute("CREATE INDEX IF NOT EXISTS orders_ts_revenue_idx ON warehouse.orders (order_ts)"
                 " INCLUDE (status, currency, total_amount, customer_id)")
    conn.execute("CREATE INDEX IF NOT EXISTS order_items_order_idx ON warehouse.order_items (order_id)"
                 " INCLUDE (sku, quantity, unit_price)")
    conn.execute("CREATE INDEX IF NOT EXISTS customers_email_norm_idx ON warehouse.customers"
                 " ((regexp_replace(split_part(lower(email), '@', 1), '[.]|[+].*$', '', 'g')"
                 " || '@' || split_part(lower(email), '@', 2)))")
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone()
    if available:
        try:
            with conn.transaction():  # a savepoint: lacking the right to create it is not fatal
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                conn.execute("CREATE INDEX IF NOT EXISTS customers_name_trgm_idx ON warehouse.customers"
                             " USING gin ((lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')))"
                             " gin_trgm_ops)")
        except psycopg.errors.InsufficientPrivilege:
            pass  # the API says in its answers that it fell back to exact normalised matching


def _0005_sales_rollups(conn: psycopg.Connection) -> None:
    """The analytics schema's sales rollups (see :mod:`pipeline_defs.rollups`), built from what the
    warehouse holds now; the ``analytics/sales_rollups`` asset keeps them up to date from here on."""
    from pipeline_defs import rollups

    statements = [
        """CREATE TABLE analytics.sales_daily (
            day date NOT NULL, currency text NOT NULL, status text NOT NULL, country text NOT NULL,
            orders bigint NOT NULL, revenue numeric NOT NULL,
            item_orders bigint NOT NULL, units bigint NOT NULL, item_revenue numeric NOT NULL,
            PRIMARY KEY (day, currency, status, country))""",
        """CREATE TABLE analytics.sales_daily_category (
            day date NOT NULL, currency text NOT NULL, status text NOT NULL, country text NOT NULL,
            category text NOT NULL, orders bigint NOT NULL, units bigint NOT NULL, revenue numeric NOT NULL,
            PRIMARY KEY (day, currency, status, country, category))""",
        """CREATE TABLE analytics.product_revenue_daily (
            day date NOT NULL, currency text NOT NULL, sku text NOT NULL,
            orders bigint NOT NULL, units bigint NOT NULL, revenue numeric NOT NULL,
            PRIMARY KEY (day, currency, sku))""",
        """CREATE TABLE analytics.revenue_monthly (
            month date NOT NULL, currency text NOT NULL,
            orders bigint NOT NULL, customers bigint NOT NULL, revenue numeric NOT NULL,
            PRIMARY KEY (month, currency))""",
        """CREATE TABLE analytics.customer_revenue (
            customer_id text NOT NULL, currency text NOT NULL, orders bigint NOT NULL, revenue numeric NOT NULL,
            customer_orders bigint NOT NULL, PRIMARY KEY (customer_id, currency))""",
        "CREATE INDEX customer_revenue_rank_idx ON analytics.customer_revenue (currency, revenue DESC)"
        " INCLUDE (customer_id)",
        """CREATE TABLE analytics.order_facts (
            order_id text PRIMARY KEY, day date NOT NULL, customer_id text, country text)""",
        "CREATE INDEX order_facts_day_idx ON analytics.order_facts (day)",
        "CREATE INDEX order_facts_customer_idx ON analytics.order_facts (customer_id) INCLUDE (day, country)",
        "CREATE TABLE analytics.product_facts (sku text PRIMARY KEY, category text)",
        """CREATE TABLE analytics.rollup_state (
            name text PRIMARY KEY, refreshed_at timestamptz NOT NULL, revenue_statuses text[] NOT NULL,
            days_refreshed integer NOT NULL)""",
    ]
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {ANALYTICS_READER}")
    rollups.rebuild(conn)


def _0006_integrity_indexes(conn: psycopg.Connection) -> None:
    """Indexes for data_integrity_analysis: covering ones so the rows of a range of partitions (orphans,
    total mismatches, null rates of order_items) come from the index, not scattered heap pages; and a
    trigram index on email local parts (when pg_trgm is installed) for the duplicate search."""
    conn.execute("CREATE INDEX IF NOT EXISTS order_items_partition_cover_idx ON warehouse.order_items (_partition)"
                 " INCLUDE (order_id, line_no, sku, quantity, unit_price)")
    conn.execute("CREATE INDEX IF NOT EXISTS orders_partition_cover_idx ON warehouse.orders (_partition)"
                 " INCLUDE (order_id, customer_id, total_amount)")
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone():
        # duplicate candidates are probed by email local part: more distinctive than names
        conn.execute("CREATE INDEX IF NOT EXISTS customers_local_trgm_idx ON warehouse.customers"
                     " USING gin ((split_part(lower(email), '@', 1)) gin_trgm_ops)")


def _0007_customer_matching(conn: psycopg.Connection) -> None:
    """Duplicate customer candidates matched ahead of time (see :mod:`pipeline_defs.customer_matching`);
    empty until the first matching run (the API matches live until then)."""
    conn.execute("""CREATE TABLE analytics.customer_pairs (
        a text NOT NULL, b text NOT NULL, same_email boolean NOT NULL,
        name_similarity real NOT NULL, email_similarity real NOT NULL, PRIMARY KEY (a, b))""")
    conn.execute("CREATE INDEX customer_pairs_b_idx ON analytics.customer_pairs (b)")
    conn.execute("""CREATE TABLE analytics.customer_match_state (
        customer_id text PRIMARY KEY, first_name text, last_name text, email text, probed boolean NOT NULL)""")
    conn.execute("""CREATE TABLE analytics.customer_match_floors (
        name text PRIMARY KEY, name_floor real NOT NULL, email_floor real NOT NULL,
        matched_at timestamptz NOT NULL)""")
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {ANALYTICS_READER}")


def _0008_partition_stats(conn: psycopg.Connection) -> None:
    """Rows and non-null values per table and partition (see :mod:`pipeline_defs.partition_stats`),
    built from what the warehouse holds now; every load refreshes its partition from here on."""
    from pipeline_defs import partition_stats

    conn.execute("""CREATE TABLE analytics.partition_stats (
        table_name text NOT NULL, partition date NOT NULL, rows bigint NOT NULL, non_null jsonb NOT NULL,
        refreshed_at timestamptz NOT NULL, PRIMARY KEY (table_name, partition))""")
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {ANALYTICS_READER}")
    partition_stats.rebuild(conn)


def _0009_rollup_coverage(conn: psycopg.Connection) -> None:
    """Which warehouse loads the sales rollups have absorbed (see :mod:`pipeline_defs.rollups`): the view
    ``analytics.rollup_loads`` fingerprints each rolled-up dataset-partition's loads, and every refresh
    records the fingerprints it covers in ``analytics.rollup_coverage``. Rebuilt once, so all is covered."""
    from pipeline_defs import rollups

    conn.execute(sql.SQL("""CREATE VIEW analytics.rollup_loads AS
        SELECT dataset, partition_date, max(processed_at) AS loaded_at,
               md5(string_agg(source_key || '@' || extract(epoch FROM processed_at)::text, ',' ORDER BY source_key))
                   AS loads
        FROM ops.load_audit WHERE status = 'loaded' AND dataset IN ({datasets})
        GROUP BY dataset, partition_date""").format(
        datasets=sql.SQL(", ").join(sql.Literal(d) for d in rollups.ROLLED_UP_DATASETS)))
    conn.execute("""CREATE TABLE analytics.rollup_coverage (
        dataset text NOT NULL, partition_date date NOT NULL, loads text NOT NULL, refreshed_at timestamptz NOT NULL,
        PRIMARY KEY (dataset, partition_date))""")
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {ANALYTICS_READER}")
    rollups.rebuild(conn)


def _0010_load_audit_lineage(conn: psycopg.Connection) -> None:
    """Per file: the S3 version read, and what the warehouse merge did with its rows (see
    pipeline_defs/batch/audit.py). NULL until the file's partition is merged (and for loads before this)."""
    conn.execute("""ALTER TABLE ops.load_audit
        ADD COLUMN version_id       text,
        ADD COLUMN rows_inserted    bigint,
        ADD COLUMN rows_updated     bigint,
        ADD COLUMN rows_unchanged   bigint,
        ADD COLUMN rows_superseded  bigint,
        ADD CONSTRAINT rows_merged CHECK (rows_inserted IS NULL
            OR rows_loaded = rows_inserted + rows_updated + rows_unchanged + rows_superseded)""")


MIGRATIONS: list[tuple[str, Callable[[psycopg.Connection], None]]] = [
    ("0001_schemas_and_ops", _0001_schemas_and_ops),
    ("0002_warehouse_tables", _0002_warehouse_tables),
    ("0003_analytics_indexes", _0003_analytics_indexes),
    ("0004_analytics_reader", _0004_analytics_reader),
    ("0005_sales_rollups", _0005_sales_rollups),
    ("0006_integrity_indexes", _0006_integrity_indexes),
    ("0007_customer_matching", _0007_customer_matching),
    ("0008_partition_stats", _0008_partition_stats),
    ("0009_rollup_coverage", _0009_rollup_coverage),
    ("0010_load_audit_lineage", _0010_load_audit_lineage),
]
