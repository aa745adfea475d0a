"""Migration 0002's DDL, frozen as it shipped: the warehouse tables as the contracts declared them then.

Never edit: a contract change after this reaches the database through a new migration
(``add_column`` in ``pipeline_defs/migrations/drift.py``, whose check raises at start-up when the
contracts and the database disagree).
"""

WAREHOUSE_TABLES_0002: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS warehouse.customers (
    customer_id text NOT NULL,
    email text NOT NULL,
    first_name text,
    last_name text,
    company text,
    segment text,
    country text NOT NULL,
    city text,
    signup_date date NOT NULL,
    referred_by text,
    attributes jsonb,
    updated_at timestamptz,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (customer_id)
)""",
    """CREATE INDEX IF NOT EXISTS customers__partition_idx ON warehouse.customers (_partition)""",
    """CREATE TABLE IF NOT EXISTS warehouse.products (
    sku text NOT NULL,
    name text NOT NULL,
    category text NOT NULL,
    unit_price numeric(18,4) NOT NULL,
    currency text NOT NULL,
    active boolean,
    updated_at timestamptz,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (sku)
)""",
    """CREATE INDEX IF NOT EXISTS products__partition_idx ON warehouse.products (_partition)""",
    """CREATE TABLE IF NOT EXISTS warehouse.orders (
    order_id text NOT NULL,
    customer_id text NOT NULL,
    order_ts timestamptz NOT NULL,
    status text NOT NULL,
    currency text NOT NULL,
    channel text,
    total_amount numeric(18,4) NOT NULL,
    updated_at timestamptz,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (order_id)
)""",
    """CREATE TABLE IF NOT EXISTS warehouse.order_items (
    order_id text NOT NULL,
    line_no bigint NOT NULL,
    sku text NOT NULL,
    quantity bigint NOT NULL,
    unit_price numeric(18,4) NOT NULL,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (order_id, line_no)
)""",
    """CREATE INDEX IF NOT EXISTS orders__partition_idx ON warehouse.orders (_partition)""",
    """CREATE INDEX IF NOT EXISTS order_items__partition_idx ON warehouse.order_items (_partition)""",
    """CREATE TABLE IF NOT EXISTS warehouse.web_events (
    event_id text NOT NULL,
    event_type text NOT NULL,
    user_id text NOT NULL,
    session_id text,
    occurred_at timestamptz NOT NULL,
    device_type text,
    page_url text,
    properties jsonb,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (event_id)
)""",
    """CREATE INDEX IF NOT EXISTS web_events__partition_idx ON warehouse.web_events (_partition)""",
    """CREATE TABLE IF NOT EXISTS warehouse.market_ticks (
    symbol text NOT NULL,
    price double precision NOT NULL,
    volume double precision,
    ts timestamptz NOT NULL,
    exchange text,
    extra jsonb,
    _source_key text NOT NULL,
    _partition date NOT NULL,
    PRIMARY KEY (symbol, ts)
)""",
    """CREATE INDEX IF NOT EXISTS market_ticks__partition_idx ON warehouse.market_ticks (_partition)""",
)
