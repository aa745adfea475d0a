"""validate_chunk (vectorised) and validate_record (stdlib) must agree on every record.

Two kinds of chunks: one field varied over values of a single Python type (which exercises the
vectorised fast paths), and random-ish mixtures (which exercise the per-value fallbacks).
"""

from __future__ import annotations

import copy
import random

import pytest

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.contracts.model import camel_case

from .contract_helpers import BASE, DROP, check_parity, make

TEXT = [
    "", "  ", "abc", " 42 ", "-7", "+5", "007", "3.0", "3.", "3.5", "1e3", "1E-2", ".5", "5.", "0", "-0", "+0.000",
    "1,000", "1_000", "nan", "inf", "Infinity", "true", "False", "YES", "no", "maybe", "t", "1.0",
    "2024-05-01", "2024-02-30", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "2024-5-1",
    "2024-05-01T10:00:00Z", "2024-05-01T10:00:00", "2024-05-01 10:00", "2024-05-01T10:00",
    "2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.123456789+05:30", "2024-05-01T10:00:00.1234567",
    "2024-05-01T10:00:00,5Z", "2024-05-01T24:00:00Z", "2024-12-31T23:59:60Z", "2024-05-01T10:00:00z",
    "2024-05-01T10:00:00+24:00", "2024-05-01T10:00:00+05:60", "2024-05-01T10:00:00-0330", "2024-05-01T10:00:00+05",
    "2024-05-01T10Z", "2024-05-01T10:00:00 Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
    "1969-12-31T23:59:59.9999999Z", "20240501T100000Z", "1714557600", "1714557600123", "1714557600.5", "-1.5e3",
    "USD", "usd", "EURO", "us", "US", "gb", "XX", "enterprise", "SMB", "paid", "PAID", "web", "page_view",
    "Mobile", "a@b.co", "A.B+c@Example.ORG", "bad@", "@x.io", "a@b", "x" * 300, "İstanbul", "straße", "\u00e9t\u00e9",
    "\u3000padded\u3000", "\x1fctl\x1f", "tab\there", "12345678901234567890", "99999999999999.99995",
    "99999999999999.9999", "0.00005", "0.00015", "1.23455", "-0.00005", "1e14", "1e-30", "0.000000000001",
    "-1", "[1,2]", '{"a":1}', '[{"sku":"A","quantity":1,"unit_price":1}]', "[]", "null", '"quoted"',
]
INTS = [0, 1, -1, 2, 42, 10**13, 10**14 - 1, 10**14, -(10**14), 2**53 + 1, 2**63 - 1, -(2**63), 1714557600,
        1714557600123, 1714557600123456, 10**17, -5]
BIG_INTS = [2**63, -(2**63) - 1, 10**30]
FLOATS = [0.0, -0.0, 1.5, 19.99, 0.1 + 0.2, 1e-7, 1e14, 99999999999999.98, 1e16, 0.00005, 0.00015, 1.23455,
          -0.00005, 2.5, 3.0, 1714557600.5, 1714557600123.0, float("nan"), float("inf"), float("-inf"), -1.0,
          1e300, 5e-324, 12.345678, 12.34565, 1e11 + 0.5, 123456789012.34567, 9.2e18, -9.3e18]
BOOLS = [True, False, True]
NESTED = [[1], {"a": 1}, [], {}, [{"sku": "A", "quantity": 1, "unit_price": 1}], None]
FAMILIES = {"text": TEXT, "ints": INTS, "big_ints": BIG_INTS, "floats": FLOATS, "bools": BOOLS,
            "nested": NESTED, "nulls": [None, None]}
ALL_VALUES = [v for family in FAMILIES.values() for v in family]


def _field_names(dataset):
    contract = CONTRACTS[dataset]
    return [f.name for f in contract.all_fields]


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_one_field_one_type(dataset, family):
    for name in _field_names(dataset):
        records = [make(dataset, **{name: value}) for value in FAMILIES[family]]
        check_parity(dataset, records)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_item_fields_one_type(family):
    for name in ("sku", "quantity", "unit_price"):
        records = []
        for value in FAMILIES[family]:
            record = make("orders")
            record["items"][0][name] = value
            records.append(record)
        check_parity("orders", records)


def _mutate(rng: random.Random, dataset: str) -> object:
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(["junk", 7, None, [1]])
    record = copy.deepcopy(BASE[dataset])
    names = _field_names(dataset)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        name = rng.choice(names)
        record[name] = DROP if rng.random() < 0.15 else rng.choice(ALL_VALUES)
    record = {k: v for k, v in record.items() if v is not DROP}
    if dataset == "orders" and rng.random() < 0.4:
        item = dict(rng.choice(record.get("items") or [{}]) if isinstance(record.get("items"), list)
                    and record["items"] and isinstance(record["items"][0], dict) else {})
        item[rng.choice(["sku", "quantity", "unit_price", "colour"])] = rng.choice(ALL_VALUES)
        record["items"] = [item] + [{"sku": "Z", "quantity": 1, "unit_price": 1}] * rng.randint(0, 2)
        if rng.random() < 0.3:
            record["items"] = __import__("json").dumps(record["items"], default=str)
    if rng.random() < 0.2:
        record[rng.choice(["note", "colour", "Extra Field"])] = rng.choice(ALL_VALUES)
    if dataset == "web_events" and rng.random() < 0.4:
        record = {camel_case(k) if k != "occurred_at" else "timestamp": v for k, v in record.items()}
    return record


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_random_mixtures(dataset):
    rng = random.Random(f"parity-{dataset}")
    for _ in range(4):
        records = [_mutate(rng, dataset) for _ in range(400)]
        reasons = check_parity(dataset, records)
        assert None in reasons and any(reasons)  # both verdicts occur


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_random_homogeneous_csv_like(dataset):
    """CSV gives every value as text: the vectorised text paths on their own."""
    rng = random.Random(f"csv-{dataset}")
    records = []
    for _ in range(600):
        record = {k: (v if isinstance(v, str) else __import__("json").dumps(v)) for k, v in BASE[dataset].items()}
        for _ in range(rng.choice([0, 1, 2])):
            record[rng.choice(_field_names(dataset))] = rng.choice(TEXT)
        records.append(record)
    check_parity(dataset, records)


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_each_value_alone(dataset):
    """One odd value per chunk, so a value Arrow refuses cannot push its neighbours off the fast path."""
    for name in _field_names(dataset):
        for value in TEXT + INTS + FLOATS:
            check_parity(dataset, [make(dataset), make(dataset, **{name: value})])


def test_each_item_value_alone():
    for name in ("sku", "quantity", "unit_price"):
        for value in TEXT + INTS + FLOATS:
            record = make("orders")
            record["items"][1][name] = value
            check_parity("orders", [make("orders"), record])


@pytest.mark.parametrize("dataset", list(CONTRACTS))
def test_ordinary_data_stays_on_the_fast_path(dataset):
    from pipeline_defs.contracts import vector

    records = [make(dataset) for _ in range(50)]
    text_records = [{k: v if isinstance(v, str) else __import__("json").dumps(v) for k, v in r.items()}
                    for r in records]
    vector.FALLBACKS.clear()
    check_parity(dataset, records)
    check_parity(dataset, text_records)
    assert not vector.FALLBACKS, dict(vector.FALLBACKS)
