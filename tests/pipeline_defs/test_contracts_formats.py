"""iter_records: CSV and JSON flavours, gzip, file-level rejections, streaming in bounded memory."""

from __future__ import annotations

import gzip
import io
import json
import random

import pytest

from pipeline_defs.contracts import CONTRACTS, FileRejected, MalformedRecord, formats, iter_records, jsonscan, validate_chunk


def read(data: bytes, key: str, chunk_rows: int = 50_000) -> list:
    return [record for chunk in iter_records(io.BytesIO(data), key, chunk_rows=chunk_rows) for record in chunk]


def rejected(data: bytes, key: str) -> str:
    with pytest.raises(FileRejected) as info:
        read(data, key)
    return info.value.reason


class ReadOnly:
    """Like botocore's StreamingBody: only read(n), counting what was consumed."""

    def __init__(self, data: bytes):
        self._data, self.consumed = data, 0

    def read(self, n: int = -1) -> bytes:
        n = len(self._data) - self.consumed if n is None or n < 0 else n
        out = self._data[self.consumed : self.consumed + n]
        self.consumed += len(out)
        return out


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_with_bom_crlf_and_quoted_fields():
    data = (
        "\ufeffsku,name,category,unit_price\r\n"
        'A-1,"Widget, large",tools,1.50\r\n'
        'B-2,"Two\r\nlines ""quoted""",toys,2\r\n'
    ).encode("utf-8")
    assert read(data, "catalog/products/p.csv") == [
        {"sku": "A-1", "name": "Widget, large", "category": "tools", "unit_price": "1.50"},
        {"sku": "B-2", "name": 'Two\r\nlines "quoted"', "category": "toys", "unit_price": "2"},
    ]


def test_csv_header_is_trimmed_and_blank_rows_skipped():
    data = b" sku , name \n\nA,x\n , \nB,y\n"
    assert read(data, "catalog/products/p.csv") == [{"sku": "A", "name": "x"}, {"sku": "B", "name": "y"}]


def test_csv_row_with_wrong_cell_count_is_a_malformed_record():
    records = read(b"sku,name\nA,x\nB,y,extra\nC\n", "catalog/products/p.csv")
    assert records[0] == {"sku": "A", "name": "x"}
    assert records[1] == MalformedRecord("B,y,extra", 3) and records[2] == MalformedRecord("C", 4)
    chunk = validate_chunk(CONTRACTS["products"], records)
    assert [(r.row, r.reason, r.record) for r in chunk.rejects][1:] == [
        (1, "malformed:record", "B,y,extra"), (2, "malformed:record", "C"),
    ]


def test_csv_items_column_is_parsed_by_validation():
    data = (
        "order_id,customer_id,order_ts,status,currency,items,total_amount\n"
        'O1,C1,2024-05-01T10:00:00Z,paid,USD,"[{""sku"":""A"",""quantity"":2,""unit_price"":1.25}]",2.50\n'
    ).encode()
    chunk = validate_chunk(CONTRACTS["orders"], read(data, "erp/orders/o.csv"))
    assert chunk.rejects == []
    assert chunk.tables["order_items"].column("sku").to_pylist() == ["A"]


def test_csv_header_only():
    assert rejected(b"sku,name,category\r\n", "catalog/products/p.csv") == "header_only"
    assert rejected(b"\xef\xbb\xbfsku,name\n\n\n", "catalog/products/p.csv") == "header_only"


@pytest.mark.parametrize("data", [b"", b"   \n\r\n", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("key", ["catalog/products/p.csv", "catalog/products/p.json", "web/events/e.jsonl"])
def test_empty_file(data, key):
    assert rejected(data, key) == "empty_file"


@pytest.mark.parametrize("key", ["catalog/products/p.csv", "catalog/products/p.json", "web/events/e.jsonl"])
def test_not_utf8(key):
    text = "sku,name\nA,Caf\u00e9\n" if key.endswith("csv") else '[{"name": "Caf\u00e9"}]'
    data = text.encode("latin-1")
    assert rejected(data, key) == "encoding:not_utf8"


def test_not_utf8_deep_in_a_file_rejects_it_mid_stream():
    data = b"sku,name\n" + b"A,x\n" * 200_000 + b"B,\xff\n"
    with pytest.raises(FileRejected) as info:
        for _ in iter_records(io.BytesIO(data), "catalog/products/p.csv", chunk_rows=1000):
            pass
    assert info.value.reason == "encoding:not_utf8"


# --- JSON ----------------------------------------------------------------------------------------

RECORDS = [{"id": i, "name": f"n{i}", "price": 1.5 * i, "tags": ["a", {"b": None}], "s": "é\"\\\n"} for i in range(25)]


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("x/p.json", json.dumps(RECORDS)),
        ("x/p.json", json.dumps(RECORDS, indent=2)),
        ("x/p.json", json.dumps({"data": RECORDS})),
        ("x/p.json", json.dumps({"count": 25, "meta": {"data": [1]}, "data": RECORDS, "next": None}, indent=1)),
        ("x/p.json", "\n".join(json.dumps(r) for r in RECORDS)),
        ("x/p.json", "\r\n".join(json.dumps(r) for r in RECORDS) + "\r\n"),
        ("x/p.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n\n"),
        ("x/p.ndjson", "\ufeff" + "\n".join(json.dumps(r) for r in RECORDS)),
    ],
    ids=["array", "array-indented", "envelope", "envelope-other-members", "json-sniffed-lines", "lines-crlf",
         "jsonl", "ndjson-bom"],
)
def test_json_flavours(key, data):
    assert read(data.encode(), key) == RECORDS


@pytest.mark.parametrize("read_chars", [1, 2, 3, 7, 64])
def test_json_streaming_across_tiny_buffers(monkeypatch, read_chars):
    monkeypatch.setattr(jsonscan, "READ_CHARS", read_chars)
    records = RECORDS + [{"n": 1234567890123, "f": -1.25e-7, "t": True, "z": None, "u": "\u2603"}]
    for data in (json.dumps(records), json.dumps({"data": records}), "\n".join(map(json.dumps, records))):
        assert read(data.encode(), "x/p.json") == records


def test_empty_array_and_envelope_yield_nothing():
    assert read(b" [ ] ", "x/p.json") == []
    assert read(b'{"data": []}', "x/p.json") == []


@pytest.mark.parametrize(
    "data",
    [
        b'[{"a": 1}, {"a": 2}',  # truncated array
        b'[{"a": 1}, {"a": ',
        b'[{"a": 1},]',
        b'[{"a": 1}] trailing',
        b'[{"a": 1} {"a": 2}]',
        b'{"data": [{"a": 1}, {"a": 2}]',  # truncated envelope
        b'{"data": [{"a": 1}], "next": }',
        b'{"data": [{"a": 1}]}\n{"b": 2}',
        b"not json at all",
        b'"just a string"',
        b'[{"a": "unterminated}]',
    ],
)
def test_malformed_json_rejects_the_file(data):
    assert rejected(data, "x/p.json") == "malformed:json"


def test_bad_json_line_is_a_malformed_record_not_a_file_rejection():
    data = b'{"sku": "A", "name": "x", "category": "c", "unit_price": 1, "currency": "USD"}\n{"sku": "B", oops\n[1]\n'
    records = read(data, "catalog/products/p.jsonl")
    assert records[1] == MalformedRecord('{"sku": "B", oops', 2) and records[2] == [1]
    chunk = validate_chunk(CONTRACTS["products"], records, first_row=0)
    assert chunk.tables["products"].num_rows == 1
    assert [(r.row, r.reason, r.record) for r in chunk.rejects] == [
        (1, "malformed:record", '{"sku": "B", oops'), (2, "malformed:record", "[1]"),
    ]


def test_truncated_last_line_of_json_lines_is_a_malformed_record():
    records = read(b'{"a": 1}\n{"a": 2', "web/events/e.jsonl")
    assert records == [{"a": 1}, MalformedRecord('{"a": 2', 2)]


# --- gzip, chunking, streaming ---------------------------------------------------------------------


def test_gzip_by_suffix_and_by_magic_bytes():
    data = "\n".join(json.dumps(r) for r in RECORDS).encode()
    packed = gzip.compress(data)
    assert read(packed, "web/events/dt=2024-05-01/e.jsonl.gz") == RECORDS
    assert read(packed, "web/events/dt=2024-05-01/e.jsonl") == RECORDS  # magic bytes win
    assert read(data, "web/events/e.jsonl.gz") == RECORDS  # named .gz but plain text
    csv_packed = gzip.compress(b"sku,name\nA,x\n")
    assert read(csv_packed, "catalog/products/p.csv.gz") == [{"sku": "A", "name": "x"}]


def test_corrupt_gzip():
    packed = gzip.compress(b'[{"a": 1}, {"a": 2}]' * 1000)
    assert rejected(packed[: len(packed) // 2], "x/p.json.gz") == "malformed:gzip"
    assert rejected(b"\x1f\x8b\x08garbage-garbage-garbage", "x/p.json.gz") == "malformed:gzip"


def test_unsupported_format():
    assert rejected(b"a,b\n1,2\n", "x/p.xlsx") == "unsupported_format"
    assert rejected(b"a,b\n1,2\n", "x/README") == "unsupported_format"


def test_chunks_have_at_most_chunk_rows():
    data = "\n".join(json.dumps(r) for r in RECORDS).encode()
    sizes = [len(c) for c in iter_records(io.BytesIO(data), "x/p.jsonl", chunk_rows=10)]
    assert sizes == [10, 10, 5]


@pytest.mark.parametrize("key", ["x/p.json", "x/p.jsonl", "x/p.csv", "x/p.json.gz"])
def test_large_files_are_streamed(key, monkeypatch):
    """Files above the whole-file JSON threshold are streamed (the threshold is lowered to 1 MB here)."""
    from pipeline_defs.contracts import formats

    monkeypatch.setattr(formats, "WHOLE_JSON_BYTES", 1 << 20)
    rows = [{"id": i, "payload": random.randbytes(50).hex()} for i in range(60_000)]  # ~7 MB, incompressible
    if key.endswith("p.csv"):
        data = ("id,payload\n" + "".join(f"{r['id']},{r['payload']}\n" for r in rows)).encode()
    elif key.endswith("jsonl"):
        data = "\n".join(map(json.dumps, rows)).encode()
    else:
        data = json.dumps({"data": rows}).encode()
    if key.endswith(".gz"):
        data = gzip.compress(data)
    stream = ReadOnly(data)
    chunks = iter_records(stream, key, chunk_rows=1000)
    first = next(chunks)
    assert len(first) == 1000 and str(first[0]["id"]) == "0"
    assert stream.consumed < min(len(data) // 2, 3 * 1024 * 1024 + (1 << 20)), "read far more than one chunk needs"
    assert sum(len(c) for c in chunks) + len(first) == len(rows)


def test_file_rejected_carries_a_machine_readable_reason():
    exc = FileRejected("malformed:json", "line 3")
    assert exc.reason == "malformed:json" and "line 3" in str(exc)


@pytest.mark.parametrize("body", [b'[{"a": 1}, {"a": 2}]', b'\xef\xbb\xbf{"meta": 1, "data": [{"a": 1}, {"a": 2}]}'])
def test_small_json_files_parse_whole_with_the_same_records(body):
    assert [r for chunk in iter_records(io.BytesIO(body), "x/p.json") for r in chunk] == [{"a": 1}, {"a": 2}]


def test_whole_file_fast_path_falls_back_for_what_orjson_rejects():
    # NaN is accepted by the standard parser (and then rejected by validation), not by orjson
    records = [r for chunk in iter_records(io.BytesIO(b'[{"a": NaN}]'), "x/p.json") for r in chunk]
    assert len(records) == 1 and records[0]["a"] != records[0]["a"]
    assert rejected(b'[{"a": 1}', "x/p.json") == "malformed:json"
