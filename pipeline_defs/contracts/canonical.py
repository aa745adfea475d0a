"""JSON text in and out (stdlib only): canonical JSON for json/jsonb columns, the raw text kept
for quarantine, deterministic ids, and the stand-in for an unparseable input line."""

from __future__ import annotations

import datetime as dt
import json
import uuid

ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:data-pipeline:contracts:derived-id")


class NotJSON(ValueError):
    """The value cannot be stored as JSON (NaN, non-string keys of mixed types, …)."""


class FileRejected(Exception):
    """The whole file is unusable; ``reason`` is machine-readable (``malformed:json``, …)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class MalformedRecord:
    """Stands in for an unusable input line (JSON Lines, CSV); always rejected, with ``reason``
    (``malformed:record``, or a limit's ``too_large:record`` / ``too_deep:json``, see limits.py)."""

    __slots__ = ("text", "line", "reason")

    def __init__(self, text: str, line: int = 0, reason: str = "malformed:record"):
        self.text, self.line, self.reason = text, line, reason

    def __repr__(self) -> str:
        return f"MalformedRecord(line={self.line}, reason={self.reason}, text={self.text[:60]!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, MalformedRecord) and (self.text, self.line, self.reason) == (
            other.text, other.line, other.reason)

    __hash__ = None


class LongNumber:
    """A JSON number literal longer than the digit limit, kept unconverted (limits.json_decoder):
    no field accepts it (``invalid:<field>``) and it is not storable as JSON (``invalid:extra``)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"<number of {self.digits} characters>"


def _json_default(o):
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, LongNumber):
        raise TypeError(repr(o))
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
        return _repr(record)


def _repr(value) -> str:
    """repr() that cannot fail (an int past Python's 4,300-digit limit makes it raise)."""
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} that cannot be shown>"


def derive_id(record: dict) -> str:
    """Deterministic id for a record that lacks one: uuid5 over its canonical JSON."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default)
    except (TypeError, ValueError, RecursionError):
        text = _repr(sorted(record.items(), key=_repr))
    return str(uuid.uuid5(ID_NAMESPACE, text))
