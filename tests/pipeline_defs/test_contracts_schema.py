"""Declarations and what is derived from them: columns, Arrow schema, DDL, docs, packaging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.contracts import (
    CONTRACTS,
    LINEAGE_COLUMNS,
    Contract,
    Field,
    arrow_schema,
    columns,
    create_table_sql,
    docs_markdown,
    reasons,
    validate_chunk,
)
from pipeline_defs.contracts.codes import COUNTRY_CODES, CURRENCY_CODES

from .contract_helpers import make

ROOT = Path(__file__).resolve().parents[2]


def test_the_five_contracts():
    assert list(CONTRACTS) == ["customers", "products", "orders", "web_events", "market_ticks"]
    expect = {
        "customers": ("crm", ("customer_id",)),
        "products": ("catalog", ("sku",)),
        "orders": ("erp", ("order_id",)),
        "web_events": ("web", ("event_id",)),
        "market_ticks": ("market", ("symbol", "ts")),
    }
    for name, contract in CONTRACTS.items():
        assert (contract.source, contract.key) == expect[name]
        assert contract.table == name
        assert set(contract.key) <= set(contract.required_fields)
        assert contract.partition_field in {f.name for f in contract.fields}
        assert f"{contract.source}-data/" in contract.prefixes
        assert contract.description
    assert [c.table for c in CONTRACTS["orders"].children] == ["order_items"]
    assert CONTRACTS["orders"].children[0].key == ("order_id", "line_no")
    assert CONTRACTS["customers"].has_updated_at and not CONTRACTS["market_ticks"].has_updated_at
    assert CONTRACTS["web_events"].prefixes[:3] == ("web/web_events/", "web/web-events/", "web/events/")


def test_field_types_and_pg_types():
    by_type = {"string": "text", "integer": "bigint", "decimal": "numeric(18,4)", "number": "double precision",
               "boolean": "boolean", "date": "date", "timestamp": "timestamptz", "json": "jsonb"}
    for contract in CONTRACTS.values():
        for f in contract.all_fields:
            assert f.pg_type == by_type[f.type]
    with pytest.raises(ValueError):
        Field("x", "float")
    with pytest.raises(ValueError):
        Contract(name="x", source="s", table="x", key=("nope",), fields=(Field("a", "string"),))


def test_iso_code_lists():
    assert len(COUNTRY_CODES) == 249 and {"US", "GB", "DE", "JP", "BR", "AQ"} <= COUNTRY_CODES
    assert "UK" not in COUNTRY_CODES and "EU" not in COUNTRY_CODES
    assert {"USD", "EUR", "JPY", "GBP", "CHF", "XAU"} <= CURRENCY_CODES and "ABC" not in CURRENCY_CODES


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_columns_match_arrow_schema_and_validated_tables(dataset):
    contract = CONTRACTS[dataset]
    chunk = validate_chunk(contract, [make(dataset)])
    for table in [contract.table, *(c.table for c in contract.children)]:
        schema = arrow_schema(contract, table)
        assert schema.names == columns(contract, table)
        assert chunk.tables[table].schema == schema
        assert not set(LINEAGE_COLUMNS) & set(schema.names)
        assert schema.names[-1] == "extra" and schema.field("extra").type == pa.string()
        for name in contract.key if table == contract.table else contract.child(table).key:
            assert not schema.field(name).nullable


def test_arrow_types():
    schema = arrow_schema(CONTRACTS["orders"])
    assert schema.field("order_ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("total_amount").type == pa.decimal128(18, 4)
    assert "items" not in schema.names
    items = arrow_schema(CONTRACTS["orders"], "order_items")
    assert items.names == ["order_id", "line_no", "sku", "quantity", "unit_price", "extra"]
    assert items.field("quantity").type == pa.int64()
    assert arrow_schema(CONTRACTS["customers"]).field("signup_date").type == pa.date32()
    assert arrow_schema(CONTRACTS["products"]).field("active").type == pa.bool_()
    assert arrow_schema(CONTRACTS["market_ticks"]).field("price").type == pa.float64()
    assert columns(CONTRACTS["web_events"])[-2:] == ["properties", "extra"]


def test_create_table_sql():
    statements = create_table_sql(CONTRACTS["orders"], schema="wh")
    orders, items = statements[0], statements[1]
    assert orders.startswith("CREATE TABLE IF NOT EXISTS wh.orders (")
    assert "order_ts timestamptz NOT NULL" in orders and "channel text," in orders
    assert "total_amount numeric(18,4) NOT NULL" in orders and "extra jsonb" in orders
    lines = [line.strip().rstrip(",") for line in orders.splitlines()]
    assert lines[-4:-1] == ["_source_key text NOT NULL", "_partition date NOT NULL", "PRIMARY KEY (order_id)"]
    assert items.startswith("CREATE TABLE IF NOT EXISTS wh.order_items (")
    assert "PRIMARY KEY (order_id, line_no)" in items and "line_no bigint NOT NULL" in items
    assert all("IF NOT EXISTS" in s for s in statements)
    assert "PRIMARY KEY (symbol, ts)" in create_table_sql(CONTRACTS["market_ticks"])[0]
    assert "warehouse.customers" in create_table_sql(CONTRACTS["customers"])[0]
    with pytest.raises(ValueError):
        create_table_sql(CONTRACTS["orders"], schema="x; drop table y")


def test_docs_markdown_lists_every_contract():
    docs = docs_markdown()
    lines = docs.strip().splitlines()
    assert lines[0].startswith("| dataset | source | key |") and len(lines) == 2 + len(CONTRACTS)
    assert "| customers | crm | customer_id |" in docs and "| market_ticks | market | symbol, ts |" in docs
    assert "email* (email, lower-case)" in docs
    assert "country* (ISO-3166 alpha-2, upper-case)" in docs
    assert "unit_price* (decimal, ≥ 0)" in docs and "price* (number, > 0)" in docs
    assert "order_ts* (timestamp, tz-aware)" in docs and "`order_items`" in docs
    assert "segment (enterprise/smb/consumer" in docs


def test_reasons_enumerate_every_possible_reject():
    orders = reasons(CONTRACTS["orders"])
    assert orders[0] == "malformed:record" and orders[-2:] == ("invalid:extra", "too_large:extra")
    assert {"too_large:record", "too_deep:json", "too_large:columns"} < set(orders)
    assert orders.index("missing:order_id") < orders.index("invalid:order_ts") < orders.index("missing:items")
    assert "out_of_range:items.quantity" in orders and "total_mismatch" in orders
    assert "out_of_range:load_time_ms" in reasons(CONTRACTS["web_events"])


def test_package_needs_neither_pyarrow_nor_dagster():
    """The Lambda bundle has neither: importing and per-record validation must work without them."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pyarrow"] = None  # make any import of pyarrow fail
        sys.modules["numpy"] = None
        from pipeline_defs.contracts import CONTRACTS, validate_record, route, iter_records, create_table_sql
        from pipeline_defs.contracts import docs_markdown, columns
        import io
        event = {"eventType": "click", "userId": "u", "timestamp": "2024-05-01T10:00:00Z"}
        row, reason = validate_record(CONTRACTS["web_events"], event)
        assert reason is None and row["event_type"] == "click", reason
        assert route("web/events/dt=2024-05-01/x.jsonl.gz").dataset == "web_events"
        assert next(iter_records(io.BytesIO(b'{"a": 1}'), "x.jsonl")) == [{"a": 1}]
        create_table_sql(CONTRACTS["orders"]); docs_markdown(); columns(CONTRACTS["orders"])
        assert "dagster" not in sys.modules and "pandas" not in sys.modules
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


def test_modules_stay_small():
    package = ROOT / "pipeline_defs" / "contracts"
    for path in package.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 350, path.name
