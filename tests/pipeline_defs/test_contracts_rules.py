"""Every rule of every contract: one accepted and one rejected case each, with the exact reason.

Each case goes through both validate_record and validate_chunk (``verdict`` asserts they agree).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from pipeline_defs.contracts import CONTRACTS, MalformedRecord, validate_chunk, validate_record

from .contract_helpers import DROP, accepted_row, make, verdict

UTC = dt.timezone.utc
ITEM = {"sku": "SKU-1", "quantity": 2, "unit_price": 19.99}


def order_with_items(items, total=None, **changes):
    if total is None:
        total = sum(Decimal(str(i.get("quantity", 0))) * Decimal(str(i.get("unit_price", 0))) for i in items
                    if isinstance(i, dict) and isinstance(i.get("quantity"), (int, float)))
        total = float(total)
    return make("orders", items=items, total_amount=total, **changes)


CASES = [
    # --- customers ---------------------------------------------------------------------------
    ("customers", {}, None),
    ("customers", {"customer_id": DROP}, "missing:customer_id"),
    ("customers", {"customer_id": "   "}, "missing:customer_id"),
    ("customers", {"customer_id": 42}, None),
    ("customers", {"customer_id": {"id": 1}}, "invalid:customer_id"),
    ("customers", {"email": DROP}, "missing:email"),
    ("customers", {"email": ""}, "missing:email"),
    ("customers", {"email": "not-an-email"}, "invalid:email"),
    ("customers", {"email": "a@b"}, "invalid:email"),
    ("customers", {"email": " Ada.L@Example.COM "}, None),
    ("customers", {"first_name": ""}, None),
    ("customers", {"first_name": ["Ada"]}, "invalid:first_name"),
    ("customers", {"segment": "SMB"}, None),
    ("customers", {"segment": "consumer"}, None),
    ("customers", {"segment": "vip"}, "invalid:segment"),
    ("customers", {"segment": ""}, None),
    ("customers", {"country": "us"}, None),
    ("customers", {"country": "XX"}, "invalid:country"),
    ("customers", {"country": "USA"}, "invalid:country"),
    ("customers", {"country": DROP}, "missing:country"),
    ("customers", {"signup_date": DROP}, "missing:signup_date"),
    ("customers", {"signup_date": "2024-02-29"}, None),
    ("customers", {"signup_date": "2024-01-15T09:30:00Z"}, None),
    ("customers", {"signup_date": "2023-02-29"}, "invalid:signup_date"),
    ("customers", {"signup_date": "15/01/2024"}, "invalid:signup_date"),
    ("customers", {"signup_date": 20240115}, "invalid:signup_date"),
    ("customers", {"referred_by": "C7"}, None),
    ("customers", {"referred_by": True}, "invalid:referred_by"),
    ("customers", {"attributes": '{"tier": "gold", "score": 3}'}, None),
    ("customers", {"attributes": "gold"}, "invalid:attributes"),
    ("customers", {"attributes": [1, 2]}, "invalid:attributes"),
    ("customers", {"updated_at": "2024-05-01 10:00:00"}, None),
    ("customers", {"updated_at": "yesterday"}, "invalid:updated_at"),
    ("customers", {"email": DROP, "country": "XX"}, "missing:email"),  # declaration order decides
    # --- products ----------------------------------------------------------------------------
    ("products", {}, None),
    ("products", {"sku": DROP}, "missing:sku"),
    ("products", {"name": None}, "missing:name"),
    ("products", {"category": " "}, "missing:category"),
    ("products", {"unit_price": DROP}, "missing:unit_price"),
    ("products", {"unit_price": "0"}, None),
    ("products", {"unit_price": 12.34567}, None),
    ("products", {"unit_price": "-0.01"}, "out_of_range:unit_price"),
    ("products", {"unit_price": 1e14}, "out_of_range:unit_price"),
    ("products", {"unit_price": "twelve"}, "invalid:unit_price"),
    ("products", {"unit_price": True}, "invalid:unit_price"),
    ("products", {"unit_price": float("nan")}, "invalid:unit_price"),
    ("products", {"currency": "eur"}, None),
    ("products", {"currency": "EURO"}, "invalid:currency"),
    ("products", {"currency": "ABC"}, "invalid:currency"),
    ("products", {"currency": DROP}, "missing:currency"),
    ("products", {"active": "yes"}, None),
    ("products", {"active": "No"}, None),
    ("products", {"active": "1"}, None),
    ("products", {"active": 0}, None),
    ("products", {"active": "maybe"}, "invalid:active"),
    ("products", {"active": 2}, "invalid:active"),
    # --- orders ------------------------------------------------------------------------------
    ("orders", {}, None),
    ("orders", {"order_id": DROP}, "missing:order_id"),
    ("orders", {"customer_id": ""}, "missing:customer_id"),
    ("orders", {"order_ts": DROP}, "missing:order_ts"),
    ("orders", {"order_ts": "2024-05-01T12:00:00+02:00"}, None),
    ("orders", {"order_ts": "2024-05-01T10:00:00"}, "invalid:order_ts"),
    ("orders", {"order_ts": "2024-05-01"}, "invalid:order_ts"),
    ("orders", {"order_ts": 1714557600}, "invalid:order_ts"),
    ("orders", {"status": "PAID"}, None),
    ("orders", {"status": "refunded"}, None),
    ("orders", {"status": "lost"}, "invalid:status"),
    ("orders", {"status": DROP}, "missing:status"),
    ("orders", {"currency": "gbp"}, None),
    ("orders", {"currency": "POUND"}, "invalid:currency"),
    ("orders", {"channel": "partner"}, None),
    ("orders", {"channel": DROP}, None),
    ("orders", {"channel": "phone"}, "invalid:channel"),
    ("orders", {"items": DROP}, "missing:items"),
    ("orders", {"items": []}, "missing:items"),
    ("orders", {"items": "not json"}, "invalid:items"),
    ("orders", {"items": [1, 2]}, "invalid:items"),
    ("orders", {"items": {"sku": "A", "quantity": 1, "unit_price": 1}}, "invalid:items"),
    ("orders", {"total_amount": DROP}, "missing:total_amount"),
    ("orders", {"total_amount": "lots"}, "invalid:total_amount"),
    ("orders", {"total_amount": 45.49}, None),  # within 0.01
    ("orders", {"total_amount": "45.47"}, None),
    ("orders", {"total_amount": 45.50}, "total_mismatch"),
    ("orders", {"total_amount": 40}, "total_mismatch"),
    ("orders", {"updated_at": "2024-13-01T00:00:00Z"}, "invalid:updated_at"),
    # --- web_events --------------------------------------------------------------------------
    ("web_events", {}, None),
    ("web_events", {"event_type": DROP}, "missing:event_type"),
    ("web_events", {"event_type": "Purchase"}, None),
    ("web_events", {"event_type": "scroll"}, "invalid:event_type"),
    ("web_events", {"user_id": DROP}, "missing:user_id"),
    ("web_events", {"user_id": 17}, None),
    ("web_events", {"session_id": DROP}, None),
    ("web_events", {"session_id": ["s"]}, "invalid:session_id"),
    ("web_events", {"occurred_at": DROP}, "missing:occurred_at"),
    ("web_events", {"occurred_at": "2024-05-01T10:00:00"}, None),
    ("web_events", {"occurred_at": "2024-05-01T10:00:00.123456789-03:30"}, None),
    ("web_events", {"occurred_at": "2024-05-01T25:00:00Z"}, "invalid:occurred_at"),
    ("web_events", {"occurred_at": 1714557600123}, None),
    ("web_events", {"occurred_at": True}, "invalid:occurred_at"),
    ("web_events", {"device_type": "Tablet"}, None),
    ("web_events", {"device_type": "watch"}, "invalid:device_type"),
    ("web_events", {"page_url": 5.5}, "invalid:page_url"),
    ("web_events", {"load_time_ms": "250.5"}, None),
    ("web_events", {"load_time_ms": -1}, "out_of_range:load_time_ms"),
    ("web_events", {"load_time_ms": "fast"}, "invalid:load_time_ms"),
    ("web_events", {"session_length": -0.5}, "out_of_range:session_length"),
    ("web_events", {"pages_viewed": 3}, None),
    ("web_events", {"pages_viewed": 2.5}, "invalid:pages_viewed"),
    ("web_events", {"pages_viewed": -1}, "out_of_range:pages_viewed"),
    ("web_events", {"event_type": "purchase", "amount": "19.99", "currency": "usd", "items_count": 2}, None),
    ("web_events", {"amount": -5}, "out_of_range:amount"),
    ("web_events", {"currency": "ABC"}, "invalid:currency"),
    ("web_events", {"items_count": "two"}, "invalid:items_count"),
    ("web_events", {"payment_method": {"card": 1}}, "invalid:payment_method"),
    ("web_events", {"marketing_consent": "yes"}, None),
    ("web_events", {"marketing_consent": "maybe"}, "invalid:marketing_consent"),
    ("web_events", {"signup_method": "email", "campaign_source": "ads", "element_id": "b1",
                    "element_type": "button", "error_type": "js", "error_message": "boom"}, None),
    ("web_events", {"error_message": []}, "invalid:error_message"),
    # --- market_ticks ------------------------------------------------------------------------
    ("market_ticks", {}, None),
    ("market_ticks", {"symbol": DROP}, "missing:symbol"),
    ("market_ticks", {"symbol": " msft "}, None),
    ("market_ticks", {"symbol": 3.5}, "invalid:symbol"),
    ("market_ticks", {"price": DROP}, "missing:price"),
    ("market_ticks", {"price": "0.0001"}, None),
    ("market_ticks", {"price": 0}, "out_of_range:price"),
    ("market_ticks", {"price": -1.5}, "out_of_range:price"),
    ("market_ticks", {"price": "cheap"}, "invalid:price"),
    ("market_ticks", {"volume": DROP}, None),
    ("market_ticks", {"volume": 0}, None),
    ("market_ticks", {"volume": -1}, "out_of_range:volume"),
    ("market_ticks", {"ts": DROP}, "missing:ts"),
    ("market_ticks", {"ts": 1714557600}, None),
    ("market_ticks", {"ts": 1714557600123}, None),
    ("market_ticks", {"ts": "1714557600.5"}, None),
    ("market_ticks", {"ts": "2024-05-01T10:00:00"}, None),
    ("market_ticks", {"ts": "soon"}, "invalid:ts"),
    ("market_ticks", {"ts": True}, "invalid:ts"),
    ("market_ticks", {"ts": float("inf")}, "invalid:ts"),
    ("market_ticks", {"exchange": 7}, None),
]


@pytest.mark.parametrize(("dataset", "changes", "reason"), CASES, ids=[f"{d}-{i}" for i, (d, _, _) in enumerate(CASES)])
def test_rule(dataset, changes, reason):
    assert verdict(dataset, make(dataset, **changes)) == reason


@pytest.mark.parametrize(
    ("items", "total", "reason"),
    [
        ([{"sku": "A", "quantity": "3", "unit_price": "1.50"}], 4.5, None),
        ([{"quantity": 1, "unit_price": 1}], 1, "missing:items.sku"),
        ([{"sku": "A", "unit_price": 1}], 1, "missing:items.quantity"),
        ([{"sku": "A", "quantity": 0, "unit_price": 1}], 0, "out_of_range:items.quantity"),
        ([{"sku": "A", "quantity": 1.5, "unit_price": 1}], 1.5, "invalid:items.quantity"),
        ([{"sku": "A", "quantity": 1}], 0, "missing:items.unit_price"),
        ([{"sku": "A", "quantity": 1, "unit_price": -1}], -1, "out_of_range:items.unit_price"),
        ([{"sku": "A", "quantity": 1, "unit_price": "n/a"}], 0, "invalid:items.unit_price"),
        ([{"sku": "A", "quantity": 1, "unit_price": 0}], 0, None),
        # item by item: the first failing item names the reason
        ([{"sku": "A", "quantity": 0, "unit_price": 1}, {"quantity": 1, "unit_price": 1}], 1,
         "out_of_range:items.quantity"),
        ([{"sku": "A", "quantity": 1, "unit_price": 1}, {"quantity": 1, "unit_price": 1}], 2, "missing:items.sku"),
    ],
)
def test_order_items_rules(items, total, reason):
    assert verdict("orders", order_with_items(items, total)) == reason


def test_items_as_json_text_from_csv():
    record = make("orders", items='[{"sku":"A","quantity":"2","unit_price":"2.25"}]', total_amount="4.50")
    row = accepted_row("orders", record)
    assert row["order_items"] == [
        {"order_id": "O1", "line_no": 1, "sku": "A", "quantity": 2, "unit_price": Decimal("2.2500"), "extra": None}
    ]


def test_order_split_into_orders_and_items():
    chunk = validate_chunk(CONTRACTS["orders"], [make("orders"), make("orders", order_id="O2")])
    assert chunk.tables["orders"].column("order_id").to_pylist() == ["O1", "O2"]
    items = chunk.tables["order_items"].to_pylist()
    assert [(i["order_id"], i["line_no"], i["sku"]) for i in items] == [
        ("O1", 1, "SKU-1"), ("O1", 2, "SKU-2"), ("O2", 1, "SKU-1"), ("O2", 2, "SKU-2"),
    ]
    assert items[0]["unit_price"] == Decimal("19.9900") and items[0]["quantity"] == 2


def test_normalisation_of_accepted_values():
    row = accepted_row("customers", make("customers", email=" Ada.L@Example.COM ", country=" gb", segment="SMB",
                                         attributes={"b": 1, "a": [1, "é"]}, first_name="  Ada  "))
    assert row["email"] == "ada.l@example.com"
    assert row["country"] == "GB" and row["segment"] == "smb" and row["first_name"] == "Ada"
    assert row["attributes"] == '{"a":[1,"é"],"b":1}'
    assert row["signup_date"] == dt.date(2024, 1, 15)
    assert row["updated_at"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert row["extra"] is None
    product = accepted_row("products", make("products", unit_price=12.34565, currency="eur", active="NO"))
    assert product["unit_price"] == Decimal("12.3456")  # half-even on the shortest repr
    assert (product["currency"], product["active"]) == ("EUR", False)
    order = accepted_row("orders", make("orders", order_ts="2024-05-01T12:00:00+02:00", status="PAID"))
    assert order["order_ts"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC) and order["status"] == "paid"
    assert order["total_amount"] == Decimal("45.4800")


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1714557600, dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600123, dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("1714557600.5", dt.datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_market_tick_timestamps(ts, expected):
    row = accepted_row("market_ticks", make("market_ticks", ts=ts, symbol="aapl"))
    assert row["ts"] == expected and row["symbol"] == "AAPL"


def test_camel_case_web_event_is_normalised():
    record = {
        "eventId": "E9", "eventType": "PURCHASE", "userId": "U9", "sessionId": "S9",
        "timestamp": "2024-05-01T10:00:00Z", "deviceType": "Desktop", "pageUrl": "/checkout",
        "amount": 19.99, "currency": "usd", "itemsCount": 2, "paymentMethod": "card",
        "loadTime": 300, "sessionLength": 12.5, "pagesViewed": 4, "signupMethod": "google",
        "campaignSource": "ads", "marketingConsent": "true", "elementId": "buy", "elementType": "button",
        "errorType": "none", "errorMessage": "ok",
    }
    row = accepted_row("web_events", record)
    assert {k: row[k] for k in ("event_id", "event_type", "user_id", "session_id", "device_type", "page_url")} == {
        "event_id": "E9", "event_type": "purchase", "user_id": "U9", "session_id": "S9",
        "device_type": "desktop", "page_url": "/checkout",
    }
    assert row["occurred_at"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert row["properties"] == (
        '{"amount":19.99,"campaign_source":"ads","currency":"USD","element_id":"buy","element_type":"button",'
        '"error_message":"ok","error_type":"none","items_count":2,"load_time_ms":300.0,"marketing_consent":true,'
        '"pages_viewed":4,"payment_method":"card","session_length":12.5,"signup_method":"google"}'
    )
    assert row["extra"] is None


def test_web_event_without_properties_has_null_properties():
    row = accepted_row("web_events", make("web_events", load_time_ms=DROP))
    assert row["properties"] is None


def test_missing_event_id_is_derived_deterministically():
    record = make("web_events", event_id=DROP)
    row = accepted_row("web_events", record)
    assert uuid.UUID(row["event_id"]).version == 5
    again = validate_chunk(CONTRACTS["web_events"], [make("web_events", event_id=DROP)])
    assert again.tables["web_events"].column("event_id").to_pylist() == [row["event_id"]]
    assert accepted_row("web_events", make("web_events", event_id="  "))["event_id"] != row["event_id"]
    other = accepted_row("web_events", make("web_events", event_id=DROP, user_id="U2"))
    assert other["event_id"] != row["event_id"]


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_extra_fields_are_kept_and_counted(dataset):
    records = [make(dataset, shoe_size=42, note={"x": 1}), make(dataset, shoe_size="9"), make(dataset)]
    chunk = validate_chunk(CONTRACTS[dataset], records)
    assert chunk.rejects == []
    assert chunk.extra_fields == {"shoe_size": 2, "note": 1}
    extra = chunk.tables[CONTRACTS[dataset].table].column("extra").to_pylist()
    assert extra == ['{"note":{"x":1},"shoe_size":42}', '{"shoe_size":"9"}', None]
    assert verdict(dataset, records[0]) is None


def test_unknown_item_fields_are_kept_in_order_items_extra():
    record = order_with_items([{"sku": "A", "quantity": 1, "unit_price": 2, "gift": True}], 2)
    chunk = validate_chunk(CONTRACTS["orders"], [record])
    assert chunk.extra_fields == {"items.gift": 1}
    assert chunk.tables["order_items"].column("extra").to_pylist() == ['{"gift":true}']


def test_extra_that_cannot_be_json_is_rejected():
    assert verdict("products", make("products", score=float("nan"))) == "invalid:extra"


@pytest.mark.parametrize("dataset", list(CONTRACTS))
@pytest.mark.parametrize("record", ["a string", 5, None, [1, 2], MalformedRecord("{not json", 3)])
def test_non_objects_are_malformed(dataset, record):
    assert validate_record(CONTRACTS[dataset], record) == (None, "malformed:record")
    chunk = validate_chunk(CONTRACTS[dataset], [make(dataset), record], first_row=10)
    assert [(r.row, r.reason) for r in chunk.rejects] == [(11, "malformed:record")]
    expected = "{not json" if isinstance(record, MalformedRecord) else __import__("json").dumps(record)
    assert chunk.rejects[0].record == expected
    assert chunk.tables[CONTRACTS[dataset].table].num_rows == 1


def test_reject_carries_raw_record_and_row_number():
    records = [make("products"), make("products", unit_price="-1", note="é")]
    chunk = validate_chunk(CONTRACTS["products"], records, first_row=500)
    assert len(chunk.rejects) == 1
    reject = chunk.rejects[0]
    assert (reject.row, reject.reason) == (501, "out_of_range:unit_price")
    assert __import__("json").loads(reject.record) == records[1]
    assert chunk.rows_in == 2 and chunk.tables["products"].num_rows == 1


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_empty_chunk(dataset):
    contract = CONTRACTS[dataset]
    chunk = validate_chunk(contract, [], first_row=7)
    assert chunk.rows_in == 0 and chunk.rejects == [] and not chunk.extra_fields
    assert all(table.num_rows == 0 for table in chunk.tables.values())
    assert set(chunk.tables) == {contract.table, *(c.table for c in contract.children)}


def test_every_row_is_either_kept_or_rejected():
    from collections import OrderedDict

    records = [make("orders"), OrderedDict(make("orders", order_id="O2")), make("orders", status="x"), "junk"]
    chunk = validate_chunk(CONTRACTS["orders"], records, first_row=3)
    assert chunk.rows_in == 4 == chunk.tables["orders"].num_rows + len(chunk.rejects)
    assert [(r.row, r.reason) for r in chunk.rejects] == [(5, "invalid:status"), (6, "malformed:record")]
