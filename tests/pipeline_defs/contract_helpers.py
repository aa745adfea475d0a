"""Shared helpers for the contract tests: valid base records and a both-validators check."""

from __future__ import annotations

import copy
import datetime as dt
import math
from decimal import Decimal

from pipeline_defs.contracts import CONTRACTS, arrow_schema, validate_chunk, validate_record

DROP = object()  # marker: remove the field

BASE = {
    "customers": {
        "customer_id": "C1",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Engines Ltd",
        "segment": "enterprise",
        "country": "GB",
        "city": "London",
        "signup_date": "2024-01-15",
        "referred_by": "C0",
        "attributes": {"tier": "gold"},
        "updated_at": "2024-05-01T10:00:00Z",
    },
    "products": {
        "sku": "SKU-1",
        "name": "Widget",
        "category": "tools",
        "unit_price": "19.99",
        "currency": "USD",
        "active": True,
        "updated_at": "2024-05-01T10:00:00Z",
    },
    "orders": {
        "order_id": "O1",
        "customer_id": "C1",
        "order_ts": "2024-05-01T10:00:00Z",
        "status": "paid",
        "currency": "USD",
        "channel": "web",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unit_price": 19.99},
            {"sku": "SKU-2", "quantity": 1, "unit_price": 5.5},
        ],
        "total_amount": 45.48,
        "updated_at": "2024-05-01T11:00:00+00:00",
    },
    "web_events": {
        "event_id": "E1",
        "event_type": "page_view",
        "user_id": "U1",
        "session_id": "S1",
        "occurred_at": "2024-05-01T10:00:00Z",
        "device_type": "mobile",
        "page_url": "/home",
        "load_time_ms": 120,
    },
    "market_ticks": {
        "symbol": "AAPL",
        "price": 189.5,
        "volume": 1200,
        "ts": "2024-05-01T10:00:00Z",
        "exchange": "NASDAQ",
    },
}


def make(dataset: str, **changes) -> dict:
    record = copy.deepcopy(BASE[dataset])
    for key, value in changes.items():
        if value is DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def same_value(a, b) -> bool:
    """Equal values of the same kind (Decimal scale, float sign of zero, UTC datetimes included)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and str(a) == str(b)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return (isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and a == b
                and a.utcoffset() == b.utcoffset() == dt.timedelta(0))
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, float) and isinstance(b, float)
                and (math.copysign(1, a) == math.copysign(1, b) and a == b or math.isnan(a) and math.isnan(b)))
    return type(a) is type(b) and a == b


def same_row(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(same_value(got[k], want[k]) for k in got)


def check_parity(dataset: str, records: list) -> list:
    """Run both validators; assert identical verdicts, reasons, values and schemas.

    Returns the per-record reasons (None for accepted).
    """
    contract = CONTRACTS[dataset]
    chunk = validate_chunk(contract, records, first_row=1000)
    assert chunk.rows_in == len(records)
    batch_reasons = {r.row - 1000: r.reason for r in chunk.rejects}
    assert len(batch_reasons) == len(chunk.rejects)
    reasons, want_rows = [], []
    want_children: dict[str, list] = {c.table: [] for c in contract.children}
    for i, record in enumerate(records):
        row, reason = validate_record(contract, record)
        got = batch_reasons.get(i)
        assert got == reason, f"record {i} {record!r}: batch {got!r} != record {reason!r}"
        reasons.append(reason)
        if row is not None:
            for child in contract.children:
                want_children[child.table] += row.pop(child.table)
            want_rows.append(row)
    assert chunk.tables[contract.table].num_rows + len(chunk.rejects) == len(records)  # rows_in equation
    tables = {contract.table: want_rows, **want_children}
    assert set(chunk.tables) == set(tables)
    for table, want in tables.items():
        got_table = chunk.tables[table]
        assert got_table.schema == arrow_schema(contract, table)
        got = got_table.to_pylist()
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert same_row(g, w), f"{table}: batch {g!r} != record {w!r}"
    return reasons


def verdict(dataset: str, record) -> str | None:
    """The reason both validators give for one record (asserting they agree)."""
    return check_parity(dataset, [record])[0]


def accepted_row(dataset: str, record) -> dict:
    row, reason = validate_record(CONTRACTS[dataset], record)
    assert reason is None, reason
    check_parity(dataset, [record])
    return row
