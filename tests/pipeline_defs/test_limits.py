"""Hard limits on hostile input (pipeline_defs/contracts/limits.py): each bad input gets its reason —
the row when it can be skipped alone, else the file — and memory stays bounded while streaming."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap

import pytest

from pipeline_defs.contracts import (
    CONTRACTS, FileRejected, MalformedRecord, iter_records, validate_chunk, validate_record,
)
from pipeline_defs.contracts.limits import Limits, TooDeep, loads, too_deep
from pipeline_defs.settings import SettingsError, load_settings

SMALL = Limits(file_bytes=100_000, record_chars=1_000, columns=8, number_digits=30, json_depth=5, extra_chars=100)
BIG_INT = "1" * 5000  # past Python's 4,300-digit int conversion limit


def event(i: int, **extra) -> dict:
    return {"event_id": f"e{i}", "event_type": "page_view", "user_id": "u1",
            "occurred_at": "2026-11-20T10:00:00Z", **extra}


def read(data: bytes, key: str, limits: Limits = SMALL) -> list:
    return [r for chunk in iter_records(io.BytesIO(data), key, limits=limits) for r in chunk]


def rejected(data: bytes, key: str, limits: Limits = SMALL) -> str:
    with pytest.raises(FileRejected) as info:
        read(data, key, limits)
    return info.value.reason


def verdicts(records: list, limits: Limits = SMALL, contract: str = "web_events") -> list:
    """Per record: None (valid) or its reason — from the batch validator, checked against the per-record one."""
    chunk = validate_chunk(CONTRACTS[contract], records, limits=limits)
    batch = [None] * len(records)
    for reject in chunk.rejects:
        batch[reject.row] = reject.reason
    assert batch == [validate_record(CONTRACTS[contract], r, limits)[1] for r in records]
    return batch


# --- number length ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key, body", [
    ("web/events/e.csv", "event_id,event_type,user_id,occurred_at,pages_viewed\ne0,page_view,u1,2026-11-20,1\n"
                         f"e1,page_view,u1,2026-11-20,{BIG_INT}\ne2,page_view,u1,2026-11-20,{'0' * 5000}7\n"),
    ("web/events/e.jsonl",
     "\n".join(json.dumps(event(i, pages_viewed=v)) for i, v in enumerate([1, BIG_INT, "0" * 5000 + "7"]))),
], ids=["csv", "jsonl-text"])
def test_an_integer_of_5000_digits_is_an_invalid_row_not_a_crash(key, body):
    assert verdicts(read(body.encode(), key, Limits())) == [None, "invalid:pages_viewed", None]


@pytest.mark.parametrize("key, wrap", [
    ("web/events/e.jsonl", lambda rows: "\n".join(rows)),
    ("web/events/e.json", lambda rows: "[" + ",".join(rows) + "]"),  # small: orjson falls back to streaming
    ("web/events/e.json", lambda rows: '{"data": [' + ",".join(rows) + "]}"),
], ids=["jsonl", "array", "envelope"])
def test_a_long_number_literal_rejects_its_row_only(key, wrap):
    rows = [json.dumps(event(0)), json.dumps(event(1))[:-1] + f', "pages_viewed": {BIG_INT}}}',
            json.dumps(event(2))[:-1] + f', "note": {BIG_INT}.5}}', json.dumps(event(3, pages_viewed=2))]
    records = read(wrap(rows).encode(), key, Limits())
    assert verdicts(records) == [None, "invalid:pages_viewed", "invalid:extra", None]


# --- record length ---------------------------------------------------------------------------------


def test_an_over_long_json_line_is_a_row_and_the_file_goes_on():
    lines = [json.dumps(event(0)), json.dumps(event(1, blob="x" * 5000)), json.dumps(event(2))]
    records = read("\n".join(lines).encode(), "web/events/e.jsonl")
    assert records[1].reason == "too_large:record" and records[1].line == 2 and len(records[1].text) < 1100
    assert verdicts(records) == [None, "too_large:record", None]


@pytest.mark.parametrize("wrap", [str.encode, lambda s: gzip.compress(s.encode())], ids=["plain", "gzip"])
def test_an_over_long_array_element_or_csv_row_rejects_the_file(wrap):
    assert rejected(wrap(json.dumps([event(0), event(1, blob="x" * 5000)])), "web/events/e.json") == "too_large:record"
    csv_text = "event_id,event_type,user_id,occurred_at\ne0,page_view,u1,2026-11-20\n" + "e1,page_view," + "u" * 5000
    assert rejected(wrap(csv_text), "web/events/e.csv") == "too_large:record"
    quoted = 'event_id,event_type,user_id,occurred_at\ne0,page_view,"' + "u\n" * 2000 + '",2026-11-20\n'
    assert rejected(wrap(quoted), "web/events/e.csv") == "too_large:record"  # a quoted row over many lines


def test_whole_file_path_checks_record_length_and_depth_too():
    big = json.dumps([event(i) for i in range(50)] + [event(99, blob="x" * 5000)]).encode()
    assert rejected(big, "web/events/e.json") == "too_large:record"
    deep = json.dumps([event(0), event(1, tree=[[[[[[1]]]]]])]).encode()
    assert rejected(deep, "web/events/e.json") == "too_deep:json"
    assert read(deep, "web/events/e.json", Limits(json_depth=7))[1]["tree"] == [[[[[[1]]]]]]


# --- nesting depth ---------------------------------------------------------------------------------


def test_a_line_nested_100000_deep_is_a_row():
    lines = [json.dumps(event(0)), "[" * 100_000 + "]" * 100_000, json.dumps(event(2, tree={"a": [1]}))]
    records = read("\n".join(lines).encode(), "web/events/e.jsonl", Limits())
    assert isinstance(records[1], MalformedRecord) and records[1].reason == "too_deep:json"
    assert verdicts(records) == [None, "too_deep:json", None]


@pytest.mark.parametrize("body", ["[" + "[" * 100_000 + "]" * 100_000 + "]",
                                  '{"data": [{"a": ' + "[" * 50 + "]" * 50 + "}]}"])
def test_a_deep_array_element_rejects_the_file(body):
    assert rejected(body.encode(), "web/events/e.json", Limits(json_depth=20)) == "too_deep:json"


@pytest.mark.parametrize("text, limit, deeper", [
    ('{"a": [1, {"b": "]]][[["}]}', 2, True), ('{"a": [1, {"b": "]]][[["}]}', 3, False),
    (r'["\\", [["\"[[", []]]]', 3, True), (r'["\\", [["\"[[", []]]]', 4, False),
    ('["", [["["]]]', 3, False), ("[]", 0, True), ("[]", 1, False),
])
def test_depth_ignores_brackets_in_strings(text, limit, deeper):
    assert too_deep(text, limit) is deeper and too_deep(text.encode(), limit) is deeper


def test_loads_refuses_deep_text_before_parsing_it():
    with pytest.raises(TooDeep):
        loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UnicodeDecodeError):
        loads(b"\xff[]")
    assert repr(loads('{"n": ' + BIG_INT + "}")["n"]) == "<number of 5000 characters>"


# --- columns and extra -------------------------------------------------------------------------------


def test_a_csv_header_over_the_column_limit_rejects_the_file_before_any_row():
    header = ",".join(f"c{i}" for i in range(10_000))
    assert rejected((header + "\n" + ",".join("1" * 10_000) + "\n").encode(), "web/events/e.csv",
                    Limits()) == "too_large:columns"


def test_a_record_with_too_many_keys_or_too_much_extra_is_a_row():
    wide = event(1, **{f"k{i}": i for i in range(10)})
    chatty = event(2, note="n" * 200)
    assert verdicts([event(0), wide, chatty, event(3, note="short")]) == [
        None, "too_large:columns", "too_large:extra", None]


# --- decompressed size and memory --------------------------------------------------------------------


def test_a_file_over_the_decompressed_limit_is_rejected_as_such():
    body = gzip.compress(("\n".join(json.dumps(event(i)) for i in range(2000))).encode())
    assert len(body) < SMALL.file_bytes
    assert rejected(body, "web/events/e.jsonl.gz", Limits(file_bytes=SMALL.file_bytes)) == "too_large:decompressed"
    assert len(read(body, "web/events/e.jsonl.gz", Limits())) == 2000


BOMB = """
import io, sys, zlib
from pipeline_defs.contracts import FileRejected, iter_records
from pipeline_defs.contracts.limits import Limits

class Bomb(io.RawIOBase):
    # a gzip member of `gigabytes` of "x" (no newline), produced as a stream: never stored
    def __init__(self, gigabytes, head):
        self.z, self.left = zlib.compressobj(1, zlib.DEFLATED, 31), int(gigabytes * 2**30)
        self.out = self.z.compress(head)
        self.chunk = b"x" * (1 << 24)
    def readable(self):
        return True
    def readinto(self, buf):
        while not self.out and (self.left or self.z):
            if self.left:
                n = min(self.left, len(self.chunk)); self.left -= n; self.out = self.z.compress(self.chunk[:n])
            else:
                self.out, self.z = self.z.flush(), None
        n = min(len(buf), len(self.out)); buf[:n], self.out = self.out[:n], self.out[n:]
        return n

key, gigabytes, file_bytes = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
try:
    stream = io.BufferedReader(Bomb(gigabytes, b'[{"blob": "' if key.endswith(".json.gz") else b""))
    rows = [r for chunk in iter_records(stream, key, limits=Limits(file_bytes=file_bytes)) for r in chunk]
    outcome = ",".join(getattr(r, "reason", "record") for r in rows)
except FileRejected as exc:
    outcome = "file:" + exc.reason
# VmHWM: this process's peak RSS (ru_maxrss would include the parent's pages from before exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(outcome, peak_kb // 1024)
"""


@pytest.mark.parametrize("key, gigabytes, outcome", [
    ("web/events/bomb.jsonl.gz", 1.0, "too_large:record"),  # the one line is skipped, never held
    ("web/events/bomb.json.gz", 1.0, "file:too_large:record"),
    ("web/events/bomb.csv.gz", 1.0, "file:too_large:record"),
    ("web/events/bomb.jsonl.gz", 1.2, "file:too_large:decompressed"),  # limit set to 1 GiB here
], ids=["jsonl", "json", "csv", "over-the-limit"])
def test_a_gzip_bomb_without_newlines_stays_under_200_mb(key, gigabytes, outcome):
    """A few MB of gzip expanding to 1 GB of one line (before the limits, 2 GB of it took 5.4 GB RSS and
    SIGSEGV), read in a child process whose peak RSS is measured."""
    done = subprocess.run([sys.executable, "-c", BOMB, key, str(gigabytes), str(1 << 30)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got, peak_mb = done.stdout.split()
    print(f"{key} {gigabytes} GB: {got}, peak RSS {peak_mb} MB")
    assert got == outcome
    assert int(peak_mb) < 200, f"peak RSS {peak_mb} MB"  # .json: the 32 MB whole-file window; others ~40 MB


# --- settings ----------------------------------------------------------------------------------------


def test_limits_come_from_pipeline_max_settings():
    limits = load_settings({"PIPELINE_MAX_RECORD_CHARS": "2048", "PIPELINE_MAX_COLUMNS": "20"}).limits
    assert (limits.record_chars, limits.columns, limits.json_depth) == (2048, 20, Limits().json_depth)
    for env in ({"PIPELINE_MAX_JSON_DEPTH": "0"}, {"PIPELINE_MAX_NUMBER_DIGITS": "5000"},
                {"PIPELINE_MAX_FILE_BYTES": "1GB"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            load_settings(env)


# --- values that used to crash a run ----------------------------------------------------------------

HOSTILE = ["1" * 5000, "-" + "9" * 5000, "1E+1000000", "-1e999999999999999999", "1e-999999999999", 10**5000,
           -(10**4400), 1e308, -1e308, float("inf"), "NaN", "0" * 5000 + "1", "\x00", "2026-13-45T99:99:99Z",
           "9999-12-31T23:59:59.999999999-23:59", [], {}, [[["x"]]], True]


@pytest.mark.parametrize("dataset", sorted(CONTRACTS))
def test_no_hostile_value_in_any_field_crashes_validation(dataset):
    contract = CONTRACTS[dataset]
    names = [f.name for f in (*contract.fields, *contract.properties)]
    records = [{name: value for name in names} for value in HOSTILE]
    records += [{name: value} for name in names for value in HOSTILE]
    verdicts(records, Limits(), dataset)  # no exception, and both validators agree


def test_a_decimal_with_a_huge_exponent_is_out_of_range_not_a_crash():
    base = {"sku": "A", "name": "n", "category": "c", "currency": "USD"}
    prices = ["1E+1000000", "-1e999999999999999999", "0E+1000000", "99999999999999.99995", "12.5"]
    assert verdicts([{**base, "unit_price": p} for p in prices], Limits(), "products") == [
        "out_of_range:unit_price", "out_of_range:unit_price", None, "out_of_range:unit_price", None]


@pytest.mark.parametrize("key, wrap", [
    ("web/events/e.jsonl", "\n".join),
    ("web/events/e.json", lambda rows: "[" + ",".join(rows) + "]"),
    ("web/events/e.json", lambda rows: rows[0] + "\n" + rows[1] + "\n" + rows[2]),  # JSON Lines in .json
], ids=["jsonl", "array", "json-lines-in-json"])
def test_a_lone_surrogate_escape_is_a_malformed_row(key, wrap):
    """Valid JSON ("\\ud800") but no storable text: it crashed the id derivation and the Parquet writer."""
    bad = json.dumps(event(1))[:-1] + ', "note": "\\ud800 alone"}'
    pair = json.dumps(event(2, note="\U0001F600"))  # a proper surrogate pair is fine
    rows = [bad, json.dumps(event(0)), pair]  # first: in JSON Lines sniffed from a .json it is the head object
    records = read(wrap(rows).encode(), key, Limits())
    reasons = verdicts(records)
    assert reasons.count("malformed:record") == 1 and reasons.count(None) == 2
    with pytest.raises(ValueError, match="surrogate"):
        loads(bad)
