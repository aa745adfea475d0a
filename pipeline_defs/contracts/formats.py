"""Raw file bytes → chunks of records, in bounded memory (stdlib only).

* gzip is detected by its magic bytes (a ``.gz`` key that is not gzip is read as plain text);
* text must be UTF-8 (a BOM is dropped) — else ``FileRejected("encoding:not_utf8")``;
* CSV: header row required; quoted fields may hold commas and newlines; CRLF is fine; all-blank
  rows are skipped; a row with a different number of cells than the header is yielded as a
  :class:`MalformedRecord`; no data rows → ``header_only``;
* ``.json``: a top-level array, an envelope object whose ``data`` member is the array, or JSON
  Lines — sniffed from the first value (an object with a ``data`` array is an envelope; any other
  object is the first line of JSON Lines). Arrays are streamed element by element with
  ``json.JSONDecoder.raw_decode`` over a sliding buffer. A truncated or malformed array/envelope →
  ``malformed:json``. ``[]`` / ``{"data": []}`` are valid and yield no records;
* ``.jsonl`` / ``.ndjson``: one value per line; an unparseable line does not reject the file — it is
  yielded as a :class:`MalformedRecord`, which validation rejects as ``malformed:record``;
* no content at all (or only whitespace) → ``empty_file``.

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
import json
import re
import zlib
from typing import BinaryIO, Iterable, Iterator

from .canonical import MalformedRecord
from .routing import file_format

try:  # optional: the Lambda bundles may not carry it
    import orjson
except ImportError:  # pragma: no cover - exercised in the Lambda's clean interpreter
    orjson = None

GZIP_MAGIC = b"\x1f\x8b"
READ_CHARS = 1 << 20
WHOLE_JSON_BYTES = 32 << 20
UTF8_BOM = b"\xef\xbb\xbf"


class FileRejected(Exception):
    """The whole file is unusable; ``reason`` is machine-readable (``malformed:json``, …)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


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


def _binary(stream: BinaryIO) -> io.BufferedIOBase:
    head = b""
    while len(head) < 2:
        more = stream.read(2 - len(head))
        if not more:
            break
        head += more
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=READ_CHARS)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _text(binary: io.BufferedIOBase) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def iter_records(stream: BinaryIO, key: str, chunk_rows: int = 50_000) -> Iterator[list]:
    """Yield lists of at most ``chunk_rows`` records (dicts, other JSON values, MalformedRecord)."""
    fmt = file_format(key)
    if fmt is None:
        raise FileRejected("unsupported_format", key.rsplit("/", 1)[-1])
    binary: io.BufferedIOBase = _binary(stream)
    name = key.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    whole = None
    if fmt[0] == "json" and name.endswith(".json") and orjson is not None:
        try:
            whole, consumed = _whole_json(binary)
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
            records = _csv_records(text)
        else:
            records = _json_records(text, lines_only=not name.endswith(".json"))
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
        raise FileRejected("malformed:csv", str(exc)) from None


def _whole_json(binary: io.BufferedIOBase) -> tuple[list | None, bytes]:
    """(records, bytes read): records when the file is a small top-level array or ``data`` envelope."""
    data = binary.read(WHOLE_JSON_BYTES + 1)
    if len(data) > WHOLE_JSON_BYTES:
        return None, data
    try:
        value = orjson.loads(data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data)
    except orjson.JSONDecodeError:
        return None, data
    if isinstance(value, list):
        return value, data
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return value["data"], data
    return None, data


# --- CSV ---------------------------------------------------------------------------------------


def _blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _csv_records(text: io.TextIOWrapper) -> Iterator:
    reader = csv.reader(text)
    header = next((row for row in reader if not _blank(row)), None)
    if header is None:
        raise FileRejected("empty_file")
    header = [h.strip() for h in header]
    width, any_rows = len(header), False
    for row in reader:
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


# --- JSON --------------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _Scanner:
    """A sliding text buffer over a stream, decoding one JSON value at a time."""

    def __init__(self, text: io.TextIOWrapper):
        self.text, self.buf, self.pos, self.eof = text, "", 0, False

    def fill(self) -> bool:
        if self.eof:
            return False
        more = self.text.read(max(READ_CHARS, len(self.buf) - self.pos))  # grows for big values
        if not more:
            self.eof = True
            return False
        self.buf, self.pos = self.buf[self.pos:] + more, 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at end of input), without consuming it."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise FileRejected("malformed:json", f"expected {char!r} near character {self.pos}")
        self.pos += 1

    def value(self):
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
                # A number near the end of the buffer may continue in the next read ("1." + "5").
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if self.eof or (end < len(self.buf) and not (number and len(self.buf) - end < 64)):
                    self.pos = end
                    return value
            except RecursionError:
                raise FileRejected("malformed:json", "nested too deeply") from None
            except json.JSONDecodeError as exc:
                # Only an error at the end of the buffer (or an unfinished string) can be cured by
                # reading more; anything else is malformed now — don't buffer the rest of the file.
                truncated = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 64
                if self.eof or not truncated:
                    raise FileRejected("malformed:json", str(exc)) from None
            self.fill()

    def lines(self) -> Iterator[str]:
        while True:
            nl = self.buf.find("\n", self.pos)
            while nl < 0 and self.fill():
                nl = self.buf.find("\n", self.pos)
            if nl < 0:
                rest, self.pos = self.buf[self.pos:], len(self.buf)
                if rest:
                    yield rest
                return
            line, self.pos = self.buf[self.pos:nl], nl + 1
            yield line


def _json_records(text: io.TextIOWrapper, lines_only: bool) -> Iterator:
    scan = _Scanner(text)
    first = scan.peek()
    if not first:
        raise FileRejected("empty_file")
    if lines_only:
        yield from _json_lines(scan.lines(), 1)
    elif first == "[":
        yield from _array(scan)
        _expect_end(scan)
    elif first == "{":
        head, envelope = _object_head(scan)
        if envelope:
            yield from _array(scan)
            _finish_object(scan)
            _expect_end(scan)
        else:  # JSON Lines whose first line we just read
            yield head
            yield from _json_lines(scan.lines(), 1)
    else:
        raise FileRejected("malformed:json", f"starts with {first!r}")


def _array(scan: _Scanner) -> Iterator:
    scan.take("[")
    if scan.peek() == "]":
        scan.pos += 1
        return
    while True:
        yield scan.value()
        sep = scan.peek()
        scan.take("," if sep == "," else "]")
        if sep != ",":
            return


def _object_head(scan: _Scanner) -> tuple[dict, bool]:
    """Read an object's members up to a ``"data": [`` member (→ envelope) or to its end."""
    scan.take("{")
    obj: dict = {}
    if scan.peek() == "}":
        scan.pos += 1
        return obj, False
    while True:
        if scan.peek() != '"':
            raise FileRejected("malformed:json", "expected a member name")
        name = scan.value()
        scan.take(":")
        if name == "data" and scan.peek() == "[":
            return obj, True
        obj[name] = scan.value()
        sep = scan.peek()
        scan.take("," if sep == "," else "}")
        if sep != ",":
            return obj, False


def _finish_object(scan: _Scanner) -> None:
    """After an envelope's data array: skip the remaining members and the closing brace."""
    while scan.peek() == ",":
        scan.pos += 1
        if not isinstance(scan.value(), str):
            raise FileRejected("malformed:json", "expected a member name")
        scan.take(":")
        scan.value()
    scan.take("}")


def _expect_end(scan: _Scanner) -> None:
    if scan.peek():
        raise FileRejected("malformed:json", "content after the top-level value")


def _json_lines(lines: Iterable[str], first_line: int) -> Iterator:
    for number, line in enumerate(lines, first_line):
        line = line.strip()
        if not line:
            continue
        try:
            yield orjson.loads(line) if orjson is not None else json.loads(line)
        except (ValueError, RecursionError):
            try:  # orjson is stricter (NaN, huge integers): the standard parser decides
                yield json.loads(line)
            except (ValueError, RecursionError):
                yield MalformedRecord(line, number)


__all__ = ["FileRejected", "MalformedRecord", "iter_records"]
