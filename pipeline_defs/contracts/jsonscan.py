"""JSON text → records, streamed: one value at a time over a sliding buffer, within ``limits.Limits``.

``json_records`` reads a top-level array, a ``{"data": [...]}`` envelope, or JSON Lines (see
``formats.py`` for how they are told apart and what each verdict means).
"""

from __future__ import annotations

import io
import json
import re
from typing import Iterator

from .canonical import FileRejected, MalformedRecord
from .limits import TOO_DEEP, TOO_LARGE_RECORD, Limits, json_decoder, lone_surrogates, too_deep

try:  # optional: the Lambda bundles may not carry it
    import orjson
except ImportError:  # pragma: no cover - exercised in the Lambda's clean interpreter
    orjson = None

READ_CHARS = 1 << 20
PREVIEW_CHARS = 1024  # what quarantine keeps of an over-long line

_WS = re.compile(r"[ \t\n\r]*")


class Scanner:
    """A sliding text buffer over a stream, decoding one JSON value at a time within ``limits``."""

    def __init__(self, text: io.TextIOWrapper, limits: Limits):
        self.text, self.buf, self.pos, self.eof = text, "", 0, False
        self.dropped = 0  # characters before buf[0]: dropped + pos is the offset in the text
        self.surrogates = False  # whether the last value holds a lone surrogate (limits.lone_surrogates)
        self.limits, self.decoder = limits, json_decoder(limits)

    def fill(self) -> bool:
        if self.eof:
            return False
        more = self.text.read(max(READ_CHARS, len(self.buf) - self.pos))  # grows for big values
        if not more:
            self.eof = True
            return False
        self.dropped += self.pos
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

    def value(self, outer: int = 0):
        """The next JSON value, nested at most ``json_depth`` levels below ``outer`` enclosing ones."""
        self.peek()
        limit = self.limits.record_chars
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                # A number near the end of the buffer may continue in the next read ("1." + "5").
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if self.eof or (end < len(self.buf) and not (number and len(self.buf) - end < 64)):
                    self._check(end, outer)
                    escaped = self.buf.find("\\ud", self.pos, end) >= 0 or self.buf.find("\\uD", self.pos, end) >= 0
                    self.surrogates = escaped and lone_surrogates(value)
                    self.pos = end
                    return value
            except RecursionError:
                raise FileRejected(TOO_DEEP, "nested too deeply") from None
            except json.JSONDecodeError as exc:
                # Only an error at the end of the buffer (or an unfinished string) can be cured by
                # reading more; anything else is malformed now — don't buffer the rest of the file.
                truncated = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 64
                if self.eof or not truncated:
                    raise FileRejected("malformed:json", str(exc)) from None
            if len(self.buf) - self.pos > limit:  # unfinished and already too long: stop reading
                raise FileRejected(TOO_LARGE_RECORD, f"a value is longer than {limit:,} characters")
            self.fill()

    def _check(self, end: int, outer: int) -> None:
        if end - self.pos > self.limits.record_chars:
            raise FileRejected(TOO_LARGE_RECORD, f"a value is longer than {self.limits.record_chars:,} characters")
        depth = self.limits.json_depth
        if self.buf.count("[", self.pos, end) + self.buf.count("{", self.pos, end) > depth and too_deep(
                self.buf[self.pos:end], depth):
            raise FileRejected(TOO_DEEP, f"a value nests deeper than {depth} levels")

    def lines(self) -> Iterator[str | MalformedRecord]:
        """The text's lines; one longer than ``record_chars`` is skipped (never held whole) and
        stands as a ``too_large:record`` MalformedRecord holding its first characters."""
        limit = self.limits.record_chars
        while True:
            nl = self.buf.find("\n", self.pos)
            while nl < 0 and len(self.buf) - self.pos <= limit and self.fill():
                nl = self.buf.find("\n", self.pos)
            if (nl < 0 and len(self.buf) - self.pos > limit) or nl - self.pos > limit:
                yield MalformedRecord(self.buf[self.pos:self.pos + PREVIEW_CHARS] + "…", 0, TOO_LARGE_RECORD)
                if not self._skip_line():
                    return
                continue
            if nl < 0:
                rest, self.pos = self.buf[self.pos:], len(self.buf)
                if rest:
                    yield rest
                return
            line, self.pos = self.buf[self.pos:nl], nl + 1
            yield line

    def _skip_line(self) -> bool:
        """Discard up to the next newline, a buffer at a time; False at the end of the text."""
        while (nl := self.buf.find("\n", self.pos)) < 0:
            self.pos = len(self.buf)
            if not self.fill():
                return False
        self.pos = nl + 1
        return True


def json_records(scan: Scanner, lines_only: bool) -> Iterator:
    first = scan.peek()
    if not first:
        raise FileRejected("empty_file")
    if lines_only:
        yield from _json_lines(scan, 1)
    elif first == "[":
        yield from _array(scan, 1)
        _expect_end(scan)
    elif first == "{":
        head, envelope = _object_head(scan)
        if envelope:
            yield from _array(scan, 2)
            _finish_object(scan)
            _expect_end(scan)
        else:  # JSON Lines whose first line we just read
            yield _unstorable(head) if lone_surrogates(head) else head
            yield from _json_lines(scan, 1)
    else:
        raise FileRejected("malformed:json", f"starts with {first!r}")


def _array(scan: Scanner, outer: int) -> Iterator:
    scan.take("[")
    if scan.peek() == "]":
        scan.pos += 1
        return
    while True:
        value = scan.value(outer)
        yield _unstorable(value) if scan.surrogates else value
        sep = scan.peek()
        scan.take("," if sep == "," else "]")
        if sep != ",":
            return


def _object_head(scan: Scanner) -> tuple[dict, bool]:
    """Read an object's members up to a ``"data": [`` member (→ envelope) or to its end."""
    start = scan.dropped + scan.pos
    scan.take("{")
    obj: dict = {}
    if scan.peek() == "}":
        scan.pos += 1
        return obj, False
    while True:
        if scan.dropped + scan.pos - start > scan.limits.record_chars:
            raise FileRejected(TOO_LARGE_RECORD, f"an object is longer than {scan.limits.record_chars:,} characters")
        if scan.peek() != '"':
            raise FileRejected("malformed:json", "expected a member name")
        name = scan.value()
        scan.take(":")
        if name == "data" and scan.peek() == "[":
            return obj, True
        obj[name] = scan.value(1)
        sep = scan.peek()
        scan.take("," if sep == "," else "}")
        if sep != ",":
            return obj, False


def _finish_object(scan: Scanner) -> None:
    """After an envelope's data array: skip the remaining members and the closing brace."""
    while scan.peek() == ",":
        scan.pos += 1
        if not isinstance(scan.value(), str):
            raise FileRejected("malformed:json", "expected a member name")
        scan.take(":")
        scan.value(1)
    scan.take("}")


def _expect_end(scan: Scanner) -> None:
    if scan.peek():
        raise FileRejected("malformed:json", "content after the top-level value")


def _json_lines(scan: Scanner, first_line: int) -> Iterator:
    depth, decoder = scan.limits.json_depth, scan.decoder
    for number, line in enumerate(scan.lines(), first_line):
        if line.__class__ is not str:  # too long: already a MalformedRecord
            line.line = number
            yield line
            continue
        line = line.strip()
        if not line:
            continue
        if too_deep(line, depth):
            yield MalformedRecord(line[:PREVIEW_CHARS], number, TOO_DEEP)
            continue
        try:
            yield orjson.loads(line) if orjson is not None else decoder.decode(line)
        except (ValueError, RecursionError):
            try:  # orjson is stricter (NaN, huge integers, lone surrogates): the standard parser decides
                value = decoder.decode(line)
            except (ValueError, RecursionError):
                yield MalformedRecord(line, number)
                continue
            yield MalformedRecord(line, number) if lone_surrogates(value, line) else value


def _unstorable(value) -> MalformedRecord:
    """A value with a lone surrogate: rejected as malformed:record, kept as ASCII-escaped JSON."""
    return MalformedRecord(json.dumps(value, default=repr)[:PREVIEW_CHARS])
