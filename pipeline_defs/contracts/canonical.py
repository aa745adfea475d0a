"""JSON text in and out (stdlib only): canonical JSON for json/jsonb columns, the raw text kept
for quarantine, deterministic ids, and the stand-in for an unparseable input line."""

from __future__ import annotations

import datetime as dt
import json
import uuid

ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:data-pipeline:contracts:derived-id")


class NotJSON(ValueError):
    """The value cannot be stored as JSON (NaN, non-string keys of mixed types, …)."""


class MalformedRecord:
    """Stands in for an unparseable input line (JSON Lines, CSV); always rejected as malformed:record."""

    __slots__ = ("text", "line")

    def __init__(self, text: str, line: int = 0):
        self.text, self.line = text, line

    def __repr__(self) -> str:
        return f"MalformedRecord(line={self.line}, text={self.text[:60]!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, MalformedRecord) and (self.text, self.line) == (other.text, other.line)

    __hash__ = None


def _json_default(o):
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    return str(o)


def canonical_json(value) -> str:
    """Sorted keys, compact, UTF-8, no NaN — the text stored in json/jsonb columns."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=_json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        raise NotJSON(str(exc)) from None


def raw_json(record) -> str:
    """The record as JSON text for quarantine (never fails)."""
    if isinstance(record, MalformedRecord):
        return record.text  # the raw line as it was in the file
    try:
        return json.dumps(record, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError, RecursionError):
        return repr(record)


def derive_id(record: dict) -> str:
    """Deterministic id for a record that lacks one: uuid5 over its canonical JSON."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default)
    except (TypeError, ValueError, RecursionError):
        text = repr(sorted(record.items(), key=repr))
    return str(uuid.uuid5(ID_NAMESPACE, text))
