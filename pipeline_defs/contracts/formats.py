"""Raw file bytes → chunks of records, in bounded memory (stdlib only).

* gzip is detected by its magic bytes (a ``.gz`` key that is not gzip is read as plain text);
* text must be UTF-8 (a BOM is dropped) — else ``FileRejected("encoding:not_utf8")``;
* CSV: header row required; quoted fields may hold commas and newlines; CRLF is fine; all-blank
  rows are skipped; a row with a different number of cells than the header is yielded as a
  :class:`MalformedRecord`; no data rows → ``header_only``;
* ``.json``: a top-level array, an envelope object whose ``data`` member is the array, or JSON
  Lines — sniffed from the first value (an object with a ``data`` array is an envelope; any other
  object is the first line of JSON Lines). Arrays are streamed element by element
  (``jsonscan.py``). A truncated or malformed array/envelope → ``malformed:json``. ``[]`` /
  ``{"data": []}`` are valid and yield no records;
* ``.jsonl`` / ``.ndjson``: one value per line; an unparseable line does not reject the file — it is
  yielded as a :class:`MalformedRecord`, which validation rejects as ``malformed:record``;
* no content at all (or only whitespace) → ``empty_file``;
* hard limits (``limits.Limits``), checked while reading so memory stays bounded: more decompressed
  bytes than ``file_bytes`` → ``too_large:decompressed``; a CSV header wider than ``columns`` →
  ``too_large:columns``; a CSV row or JSON array element longer than ``record_chars`` →
  ``too_large:record`` and an array element nested deeper than ``json_depth`` → ``too_deep:json``
  (the file); a JSON Lines line over either limit is a :class:`MalformedRecord` with that reason (the
  row). Number literals longer than ``number_digits`` are parsed as ``canonical.LongNumber``.

A JSON array or envelope file of at most ``WHOLE_JSON_BYTES`` (decompressed) is parsed in one go
with orjson when it is installed (several times faster); anything else, and every file orjson does
not accept as a plain array/envelope, takes the streaming path above, which decides the verdict.

``FileRejected`` can be raised after some chunks were yielded (e.g. invalid UTF-8 deep in a file);
callers must then discard what they got for this file.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from typing import BinaryIO, Iterator

from .canonical import FileRejected, MalformedRecord
from .jsonscan import Scanner, json_records, orjson
from .limits import DEFAULT_LIMITS, TOO_DEEP, TOO_LARGE_COLUMNS, TOO_LARGE_FILE, TOO_LARGE_RECORD, Limits, too_deep
from .routing import file_format

GZIP_MAGIC = b"\x1f\x8b"
READ_CHARS = 1 << 20
WHOLE_JSON_BYTES = 32 << 20
UTF8_BOM = b"\xef\xbb\xbf"


class _Prefixed(io.RawIOBase):
    """A raw stream that first replays bytes already read (for sniffing), then the rest."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Capped(io.RawIOBase):
    """The decompressed stream, failing the file once it yields more than ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise FileRejected(TOO_LARGE_FILE, f"more than {self._left:,} bytes once decompressed")
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _binary(stream: BinaryIO, limit: int) -> io.BufferedIOBase:
    head = b""
    while len(head) < 2:
        more = stream.read(2 - len(head))
        if not more:
            break
        head += more
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=READ_CHARS)
    if head == GZIP_MAGIC:
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    return io.BufferedReader(_Capped(raw, limit), buffer_size=READ_CHARS)


def _text(binary: io.BufferedIOBase) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def iter_records(stream: BinaryIO, key: str, chunk_rows: int = 50_000,
                 limits: Limits = DEFAULT_LIMITS) -> Iterator[list]:
    """Yield lists of at most ``chunk_rows`` records (dicts, other JSON values, MalformedRecord)."""
    fmt = file_format(key)
    if fmt is None:
        raise FileRejected("unsupported_format", key.rsplit("/", 1)[-1])
    binary: io.BufferedIOBase = _binary(stream, limits.file_bytes)
    name = key.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    whole = None
    if fmt[0] == "json" and name.endswith(".json") and orjson is not None:
        try:
            whole, consumed = _whole_json(binary, limits)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FileRejected("malformed:gzip", str(exc)) from None
        if whole is None:  # replay what was read into the streaming path
            binary = io.BufferedReader(_Prefixed(consumed, binary), buffer_size=READ_CHARS)
    if whole is not None:
        for start in range(0, len(whole), chunk_rows):
            yield whole[start:start + chunk_rows]
        return
    text = _text(binary)
    try:
        if fmt[0] == "csv":
            records = _csv_records(text, limits)
        else:
            records = json_records(Scanner(text, limits), lines_only=not name.endswith(".json"))
        chunk: list = []
        for record in records:
            chunk.append(record)
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    except UnicodeDecodeError as exc:
        raise FileRejected("encoding:not_utf8", str(exc)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FileRejected("malformed:gzip", str(exc)) from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRejected(TOO_LARGE_RECORD, str(exc)) from None
        raise FileRejected("malformed:csv", str(exc)) from None


def _whole_json(binary: io.BufferedIOBase, limits: Limits) -> tuple[list | None, bytes]:
    """(records, bytes read): records when the file is a small top-level array or ``data`` envelope."""
    data = binary.read(WHOLE_JSON_BYTES + 1)
    if len(data) > WHOLE_JSON_BYTES:
        return None, data
    try:
        value = orjson.loads(data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data)
    except orjson.JSONDecodeError:
        return None, data
    if isinstance(value, list):
        records = value
    elif isinstance(value, dict) and isinstance(value.get("data"), list):
        records = value["data"]
    else:
        return None, data
    _check_records(records, data, limits)
    return records, data


def _check_records(records: list, data: bytes, limits: Limits) -> None:
    """Record length and depth for the whole-file path, one record's JSON at a time (cheap counts
    first): what the streaming path checks as it goes."""
    depth, longest = limits.json_depth, limits.record_chars
    if len(data) <= longest and data.count(b"[") + data.count(b"{") <= depth:
        return
    for text in map(orjson.dumps, records):
        if len(text) > longest:
            raise FileRejected(TOO_LARGE_RECORD, f"a record is longer than {longest:,} characters")
        if text.count(b"[") + text.count(b"{") > depth and too_deep(text, depth):
            raise FileRejected(TOO_DEEP, f"a record nests deeper than {depth} levels")


# --- CSV ---------------------------------------------------------------------------------------


def _blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


class _CsvLines:
    """Lines for ``csv.reader`` read at most ``limit + 1`` characters at a time; ``pending`` counts
    the characters of the row being read (a quoted field may span lines), reset by the caller."""

    def __init__(self, text: io.TextIOWrapper, limit: int):
        self.text, self.limit, self.pending = text, limit, 0

    def __iter__(self) -> Iterator[str]:
        while line := self.text.readline(self.limit + 1):
            self.pending += len(line)
            if self.pending > self.limit:
                raise FileRejected(TOO_LARGE_RECORD, f"a row is longer than {self.limit:,} characters")
            yield line


def _csv_records(text: io.TextIOWrapper, limits: Limits) -> Iterator:
    lines = _CsvLines(text, limits.record_chars)
    reader = csv.reader(lines)
    header = next((row for row in reader if not _blank(row)), None)
    if header is None:
        raise FileRejected("empty_file")
    if len(header) > limits.columns:
        raise FileRejected(TOO_LARGE_COLUMNS, f"{len(header):,} columns; the limit is {limits.columns:,}")
    header = [h.strip() for h in header]
    width, any_rows = len(header), False
    for row in reader:
        lines.pending = 0
        if _blank(row):
            continue
        any_rows = True
        if len(row) == width:
            yield dict(zip(header, row))
        else:
            yield MalformedRecord(_csv_line(row), reader.line_num)
    if not any_rows:
        raise FileRejected("header_only")


def _csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


__all__ = ["FileRejected", "MalformedRecord", "iter_records"]
