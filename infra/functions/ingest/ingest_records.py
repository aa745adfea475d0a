"""From a request body to Kinesis entries and per-record rejections (no AWS calls here).

Validation is the contracts' ``validate_record`` — the same code the batch path runs — so a record
accepted here loads in the warehouse, and one rejected here would be quarantined there with the
same reason. Whole-body problems (not UTF-8, malformed JSON, nested deeper than
``limits.Limits.json_depth``, too big) are :class:`BodyError` → 400/413; a number literal longer than
``number_digits`` rejects only its record (``invalid:<field>``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from pipeline_defs.contracts import CONTRACTS, validate_record
from pipeline_defs.contracts.limits import DEFAULT_LIMITS, TooDeep, loads
from pipeline_defs.contracts.stream_records import (
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_BYTES,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_PUT,
    STREAM_DATASETS,
    iso,
    partition_key,
    to_payload,
)

MAX_BODY_BYTES = MAX_PUT_BYTES  # one request fits one PutRecords call's byte budget


class BodyError(Exception):
    """The body as a whole cannot be used; ``status`` is 400 or 413, ``code`` machine-readable."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Entry:
    index: int  # position in the request
    data: bytes
    partition_key: str
    event_id: str | None


@dataclass
class Prepared:
    entries: list[Entry] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    total: int = 0


def describe(reason: str, dataset: str) -> str:
    """A sentence for a reason code, naming the camelCase spelling a client may have used."""
    kind, _, name = reason.partition(":")
    if kind == "missing":
        return f"{name} is required"
    if kind == "invalid":
        contract = CONTRACTS[dataset]
        f = next((f for f in contract.all_fields if f.name == name), None)
        if f is not None and f.choices is not None and f.choices_name is None:
            return f"{name} must be one of {', '.join(sorted(f.choices))}"
        if f is not None and f.type == "timestamp":
            return f"{name} must be an ISO-8601 timestamp or epoch seconds/milliseconds"
        return f"{name} has an invalid value"
    if kind == "out_of_range":
        return f"{name} is out of range"
    if kind == "oversize":
        return f"the encoded record exceeds Kinesis' {MAX_RECORD_BYTES // 1024} KiB record limit"
    if reason == "too_large:columns":
        return f"the record has more than {DEFAULT_LIMITS.columns:,} fields"
    if reason == "too_large:extra":
        return f"the unknown fields take more than {DEFAULT_LIMITS.extra_chars:,} characters as JSON"
    if reason == "malformed:record":
        return "each record must be a JSON object"
    return reason


def parse_body(body: str | bytes | None) -> list:
    """The records of a body: one JSON object or a list of at most 500."""
    if body is None or not body.strip():
        raise BodyError(400, "malformed:json", "the request body is empty; send a JSON object or a list of them")
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_BODY_BYTES:
        raise BodyError(413, "oversize:body", f"the body is {size:,} bytes; the limit is {MAX_BODY_BYTES:,}")
    try:
        parsed = loads(body)
    except UnicodeDecodeError as exc:
        raise BodyError(400, "encoding:not_utf8", f"the body is not UTF-8 text: {exc}") from None
    except TooDeep:
        raise BodyError(400, "too_deep:json", f"a record nests arrays/objects deeper than "
                                               f"{DEFAULT_LIMITS.json_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError
        raise BodyError(400, "malformed:json", f"the body is not valid JSON: {exc}") from None
    if isinstance(parsed, dict):
        return [parsed]
    if not isinstance(parsed, list):
        raise BodyError(400, "malformed:json", "send a JSON object or a list of objects")
    if not parsed:
        raise BodyError(400, "empty:batch", "the list is empty")
    if len(parsed) > MAX_RECORDS_PER_PUT:
        raise BodyError(413, "oversize:batch",
                        f"{len(parsed)} records in one request; the limit is {MAX_RECORDS_PER_PUT}")
    return parsed


def prepare(dataset: str, records: list, ingest: dict) -> Prepared:
    """Validate, normalise and enrich each record; returns Kinesis entries and rejections."""
    contract = CONTRACTS[dataset]
    out = Prepared(total=len(records))
    for index, record in enumerate(records):
        row, reason = validate_record(contract, record)
        if reason is None:
            key = partition_key(dataset, row)
            if len(key) > MAX_PARTITION_KEY_CHARS:
                reason = f"invalid:{STREAM_DATASETS[dataset][1]}"  # too long for a Kinesis partition key
        if reason is None:
            data = json.dumps(to_payload(dataset, row, ingest), separators=(",", ":"),
                              ensure_ascii=False).encode()
            if len(data) + len(key.encode()) > MAX_RECORD_BYTES:
                reason = "oversize:record"
        if reason is not None:
            out.rejections.append({"index": index, "reason": reason, "message": describe(reason, dataset)})
            continue
        out.entries.append(Entry(index, data, key, row.get("event_id")))
    return out


def enrichment(request_id: str, source_ip: str | None, now: dt.datetime | None = None) -> dict:
    return {"received_at": iso(now or dt.datetime.now(dt.timezone.utc)), "source_ip": source_ip,
            "request_id": request_id}
