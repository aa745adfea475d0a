"""One Kinesis record → a :class:`Parsed` (a web event, a tick, or a reject with its reason).

Records written by our ingest Lambda carry ``_ingest.v == 1``: they were validated by the contract
moments ago, so the fast path only reads the fields the metrics need (type-guarded). Anything else
(another producer, a hand-put record) goes through the contract's ``validate_record`` — the same
rules as the batch path — and is re-serialised in the stream format. Bad records are not errors:
they are archived under ``*.rejected.jsonl.gz`` for the batch path to quarantine with its reason.
"""

from __future__ import annotations

import binascii
import json
import time
from dataclasses import dataclass

from pipeline_defs.contracts import CONTRACTS, validate_record
from pipeline_defs.contracts.stream_records import (
    ENVELOPE_VERSION,
    INGEST_KEY,
    STREAM_KEY,
    WEB_EVENT_TYPES,
    dataset_of,
    to_payload,
    with_stream_position,
)

_WEB_TYPES = frozenset(WEB_EVENT_TYPES)
_stdlib_decode = json.JSONDecoder().decode

try:  # orjson (bundled, pinned) parses a record ~5x faster; the stdlib decides what is malformed
    import orjson

    def _decode(data: bytes):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:  # NaN, huge integers, bad UTF-8, ...: let the stdlib judge
            return _stdlib_decode(data.decode())
except ImportError:  # pragma: no cover - the bundle and the venv both have it
    def _decode(data: bytes):
        return _stdlib_decode(data.decode())


@dataclass(slots=True)
class Parsed:
    seq: str
    seq_int: int
    partition_key: str
    dataset: str  # "web_events" | "market_ticks" (for a reject: the dataset it most looks like)
    valid: bool
    day: str  # business date (UTC) for valid records; arrival date for rejects
    hour: str
    kind: str  # event type, "market_tick", or the reject reason (e.g. "missing:user_id")
    record: dict | None  # decoded payload (valid records)
    line: bytes  # the archive line (JSON + _stream), or the raw data of a reject


def _ts_parts(value) -> tuple[str, str] | None:
    """('YYYY-MM-DD', 'HH') from the stream's canonical timestamp text, else None."""
    if type(value) is str and len(value) >= 20 and value[4] == "-" and value[10] == "T" and value[-1] == "Z":
        return value[:10], value[11:13]
    return None


def _fast(obj: dict) -> tuple[str, str, str, str] | None:
    """(dataset, day, hour, kind) for a record in our envelope, or None to take the slow path."""
    meta = obj.get(INGEST_KEY)
    if type(meta) is not dict or meta.get("v") != ENVELOPE_VERSION:
        return None
    kind = obj.get("event_type")
    if kind in _WEB_TYPES:
        parts = _ts_parts(obj.get("occurred_at"))
        if parts and type(obj.get("user_id")) is str:
            return "web_events", parts[0], parts[1], kind
        return None
    if kind is None and type(obj.get("symbol")) is str:
        parts = _ts_parts(obj.get("ts"))
        price = obj.get("price")
        if parts and type(price) in (int, float) and price > 0:
            return "market_ticks", parts[0], parts[1], "market_tick"
    return None


def _text_line(data: bytes) -> bytes:
    """Undecodable bytes as one valid UTF-8 line, so the rejects file stays readable line by line."""
    text = data.decode("utf-8", "backslashreplace")
    return text.replace("\r", "\\r").replace("\n", "\\n").encode()


def _day(arrival: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(arrival))


def parse(data_b64: str, seq: str, partition_key: str, shard: str, arrival: float) -> Parsed:
    """Decode and classify one record; never raises for bad data (only for bugs).

    ``arrival`` (the record's approximate arrival, epoch seconds) dates the rejects' archive.
    """
    try:
        data = binascii.a2b_base64(data_b64, strict_mode=True)  # = b64decode(validate=True), faster
    except (binascii.Error, ValueError):
        return Parsed(seq, int(seq), partition_key, "web_events", False, _day(arrival), "00", "malformed:base64",
                      None, data_b64.encode())
    try:
        obj = _decode(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return Parsed(seq, int(seq), partition_key, "web_events", False, _day(arrival), "00", "malformed:json",
                      None, _text_line(data))
    if type(obj) is dict:
        fast = _fast(obj)
        if fast is not None:
            dataset, day, hour, kind = fast
            return Parsed(seq, int(seq), partition_key, dataset, True, day, hour, kind, obj,
                          with_stream_position(data, shard, seq))
    return _slow(obj, data, seq, partition_key, shard, arrival)


def _slow(obj, data: bytes, seq: str, partition_key: str, shard: str, arrival: float) -> Parsed:
    dataset = dataset_of(obj) if isinstance(obj, dict) else "web_events"
    row, reason = validate_record(CONTRACTS[dataset], obj)
    if reason is not None:
        line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        return Parsed(seq, int(seq), partition_key, dataset, False, _day(arrival), "00", reason, None, line)
    meta = obj.get(INGEST_KEY) if isinstance(obj.get(INGEST_KEY), dict) else None
    payload = to_payload(dataset, row, {k: v for k, v in meta.items() if k != "v"} if meta else None)
    payload[STREAM_KEY] = {"shard": shard, "seq": seq}
    line = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    stamp = payload["occurred_at" if dataset == "web_events" else "ts"]
    kind = payload["event_type"] if dataset == "web_events" else "market_tick"
    return Parsed(seq, int(seq), partition_key, dataset, True, stamp[:10], stamp[11:13], kind, payload, line)
