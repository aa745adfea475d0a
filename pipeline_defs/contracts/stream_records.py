"""The hot path's record format (stdlib only): what the ingest Lambda puts on Kinesis, what the
stream processor reads back, and the deterministic archive keys the batch path loads.

Shared by both Lambdas (bundled with the contracts) and by Dagster's reconciliation, so the three
can never disagree about a field name or a key layout.

A Kinesis record's data is one JSON object: the contract-validated record in snake_case (typed
properties and unknown client fields at top level, timestamps as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``)
followed, as its last key, by ``_ingest`` = ``{"v": 1, "received_at", "source_ip", "request_id"}``.
That is already a valid contract input, so an archive line is the record itself; the processor
appends ``_stream`` = ``{"shard", "seq"}`` so the warehouse can tell a redelivered copy (same seq)
from a client re-send (new seq). Both land in the warehouse's ``extra`` column.
"""

from __future__ import annotations

import datetime as dt
import json
import re

ENVELOPE_VERSION = 1
INGEST_KEY = "_ingest"
STREAM_KEY = "_stream"

MAX_RECORDS_PER_PUT = 500  # Kinesis PutRecords: at most 500 records ...
MAX_PUT_BYTES = 5 * 1024 * 1024  # ... and 5 MiB (data + partition keys) per call
MAX_RECORD_BYTES = 1024 * 1024  # one record's data + partition key
MAX_PARTITION_KEY_CHARS = 256

# dataset -> (archive prefix, partition-key field, timestamp field)
STREAM_DATASETS: dict[str, tuple[str, str, str]] = {
    "web_events": ("web/events/", "user_id", "occurred_at"),
    "market_ticks": ("market/ticks/", "symbol", "ts"),
}
WEB_EVENT_TYPES = ("page_view", "purchase", "user_signup", "click", "error")
MARKET_KIND = "market_tick"  # the real-time "event type" of market ticks

SEQ_WIDTH = 80  # Kinesis sequence numbers have up to 56 digits today; moto's are small integers
ARCHIVE_NAME = re.compile(
    r"(?P<prefix>web/events/|market/ticks/)dt=(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})/"
    r"(?P<shard>[A-Za-z0-9_.-]+?)-(?P<first>[0-9]+)-(?P<last>[0-9]+)(?P<rejected>\.rejected)?\.jsonl\.gz"
)
# The same shape for PostgreSQL's ~ operator (POSIX regex), without the named groups.
ARCHIVE_KEY_SQL = r"^(web/events/|market/ticks/)dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Za-z0-9_.-]+-[0-9]+-[0-9]+\.jsonl\.gz$"


def iso(value: dt.datetime) -> str:
    """The one timestamp spelling on the stream: UTC, microseconds, ``Z`` (sortable as text)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def padded_seq(seq: str) -> str:
    """A sequence number as fixed-width digits, so DynamoDB's string order is numeric order."""
    if not (seq.isascii() and seq.isdigit()) or len(seq) > SEQ_WIDTH:
        raise ValueError(f"not a Kinesis sequence number: {seq!r}")
    return seq.zfill(SEQ_WIDTH)


def partition_key(dataset: str, row: dict) -> str:
    return str(row[STREAM_DATASETS[dataset][1]])


def to_payload(dataset: str, row: dict, ingest: dict | None) -> dict:
    """The stream/archive record for a row returned by ``validate_record`` (plain JSON types)."""
    payload: dict = {}
    for name, value in row.items():
        if value is None or name in ("properties", "extra"):
            continue
        if isinstance(value, dt.datetime):
            value = iso(value)
        elif not isinstance(value, (str, int, float, bool)):
            value = str(value)  # Decimal and friends: exact text, the contract parses it back
        payload[name] = value
    if row.get("properties"):
        payload.update(json.loads(row["properties"]))
    if row.get("extra"):
        extra = json.loads(row["extra"])
        extra.pop(INGEST_KEY, None)  # a client cannot forge the envelope marker ...
        extra.pop(STREAM_KEY, None)
        for name, value in extra.items():
            payload.setdefault(name, value)
    if ingest is not None:
        payload[INGEST_KEY] = {"v": ENVELOPE_VERSION, **ingest}  # ... which is always the last key
    return payload


def dataset_of(record: dict) -> str:
    """Which stream dataset a decoded record claims to be (web events unless it looks like a tick)."""
    if "event_type" in record or "eventType" in record:
        return "web_events"
    if "symbol" in record:
        return "market_ticks"
    return "web_events"


def archive_key(dataset: str, day: str, shard: str, first_seq: str, last_seq: str,
                rejected: bool = False) -> str:
    """``web/events/dt=<day>/<shard>-<first>-<last>.jsonl.gz`` — the same batch always gets the
    same key, so a redelivered batch overwrites its own archive instead of adding one."""
    prefix = STREAM_DATASETS[dataset][0]
    suffix = ".rejected.jsonl.gz" if rejected else ".jsonl.gz"
    return f"{prefix}dt={day}/{shard}-{first_seq}-{last_seq}{suffix}"


def with_stream_position(line: bytes, shard: str, seq: str) -> bytes:
    """Append ``_stream`` to a serialised JSON object without re-encoding it (hot loop)."""
    body = line.rstrip()
    if body[-1:] != b"}" or body == b"{}":
        raise ValueError("not a non-empty JSON object")
    return body[:-1] + b',"' + STREAM_KEY.encode() + b'":{"shard":"' + shard.encode() + \
        b'","seq":"' + seq.encode() + b'"}}'
