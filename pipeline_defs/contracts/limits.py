"""Hard limits on hostile input (stdlib only): size, width, depth and digit counts, with their reasons.

The defaults live here because the Lambda bundles carry ``pipeline_defs/contracts`` but not
``settings.py``; the batch path reads overrides from ``PIPELINE_MAX_*`` (``pipeline_defs/settings.py``).
``formats.py`` checks them while streaming, ``record.py`` / ``batch.py`` per record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .canonical import LongNumber

TOO_LARGE_FILE = "too_large:decompressed"  # the whole file
TOO_LARGE_RECORD = "too_large:record"  # a JSON Lines line (the row); a CSV row or JSON array element (the file)
TOO_LARGE_COLUMNS = "too_large:columns"  # a CSV header (the file); a record's keys (the row)
TOO_LARGE_EXTRA = "too_large:extra"  # the row
TOO_DEEP = "too_deep:json"  # a JSON Lines line (the row); a JSON array element (the file); an API body


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 2 << 30  # decompressed bytes of one file
    record_chars: int = 1 << 20  # one line, CSV row or JSON array element (decoded characters)
    columns: int = 1_000  # CSV header cells, or top-level keys of one record
    number_digits: int = 100  # characters of one JSON number literal; longer → invalid:<field>
    json_depth: int = 64  # nesting of arrays/objects in one record (the top-level array not counted)
    extra_chars: int = 64 << 10  # canonical JSON of a record's unknown fields


DEFAULT_LIMITS = Limits()

_NOT_SYNTAX = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_PARENS = bytes.maketrans(b"[{]}", b"(())")


def too_deep(text: str | bytes, limit: int) -> bool:
    """Whether JSON ``text`` nests arrays/objects deeper than ``limit`` (brackets in strings not
    counted). C-speed string operations only: the text is reduced to its brackets, then each round
    removes the innermost pairs, one level at a time — a pair left after ``limit`` rounds is too deep."""
    if isinstance(text, str):
        opens = text.count("[") + text.count("{")
        if opens <= limit:
            return False
        text = text.encode("utf-8", "surrogatepass")
    elif text.count(b"[") + text.count(b"{") <= limit:
        return False
    if b"\\" in text:  # escapes: drop \\ first, then \" — the quotes left delimit strings
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = text.translate(None, _NOT_SYNTAX).replace(b'""', b"")  # strings without brackets go first
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    text = text.translate(_PARENS)
    for _ in range(limit):
        if b"()" not in text:
            return False
        text = text.replace(b"()", b"")
    return b"()" in text


def json_decoder(limits: Limits) -> json.JSONDecoder:
    """The stdlib decoder with number literals longer than ``number_digits`` as :class:`LongNumber`
    (converting them would be quadratic, or fail past Python's 4,300-digit limit)."""
    digits = limits.number_digits

    def parse_int(s: str):
        return int(s) if len(s) <= digits else LongNumber(len(s))

    def parse_float(s: str):
        return float(s) if len(s) <= digits else LongNumber(len(s))

    return json.JSONDecoder(parse_int=parse_int, parse_float=parse_float)


def lone_surrogates(value, text: str | None = None) -> bool:
    """Whether a decoded JSON value holds a lone UTF-16 surrogate (``"\\ud800"``): valid JSON, but no
    storable text. ``text`` (the JSON it came from) makes the common case a substring search."""
    if text is not None and "\\ud" not in text and "\\uD" not in text:
        return False
    try:
        json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


class TooDeep(ValueError):
    """JSON text nests deeper than the limit (raised before the parser recurses)."""


def loads(text: str | bytes, limits: Limits = DEFAULT_LIMITS):
    """``json.loads`` within the limits: :class:`TooDeep`, or ``ValueError`` for bad JSON/encoding
    (a lone surrogate escape included)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8-sig")  # UnicodeDecodeError is a ValueError
    if too_deep(text, limits.json_depth + 1):  # a body may be a list of records
        raise TooDeep(f"nested deeper than {limits.json_depth} levels")
    try:
        value = json_decoder(limits).decode(text)
    except RecursionError:
        raise TooDeep("nested too deeply") from None
    if lone_surrogates(value, text):
        raise ValueError("a string holds a lone UTF-16 surrogate escape")
    return value
