"""What one field value means (stdlib only): the semantics both validators share.

``validate_record`` applies :func:`convert` to each value. ``validate_chunk`` applies vectorised
equivalents and, for a column whose Python types are mixed or unusual, falls back to exactly this
function — so per-record and batch validation give the same verdicts and values.

Accepted inputs per type (strings are trimmed first; a blank string is a null):

* string   — str, or an int (rendered in decimal). Then ``case``, ``choices``, ``pattern``.
* integer  — int, integral float, or text ``[+-]digits[.000]``; must fit int64 (text of any length
  is judged without converting it: more than 19 significant digits cannot fit).
* decimal  — int, finite float (its shortest repr), Decimal, or number text; rounded half-even to 4
  places; ``|x| >= 1e14`` does not fit numeric(18,4) and is ``out_of_range``.
* number   — int, finite float, Decimal, or number text; stored as float64.
* boolean  — bool, 0/1, or text true/false/1/0/yes/no (any case).
* date     — ``YYYY-MM-DD`` (a trailing ISO time part is ignored) or a date object.
* timestamp — ISO-8601 ``YYYY-MM-DD[(T| )hh:mm[:ss[.fraction]]][Z|±hh[:mm]]`` (fraction truncated to
  microseconds); no offset means UTC unless the field is ``tz_aware`` (then ``invalid``). With
  ``epoch`` also numbers: ``|x| < 1e11`` seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds,
  else nanoseconds. Aware datetime objects are accepted too. Stored as UTC microseconds.
* json     — any JSON value, or text holding JSON (CSV); ``object_only`` requires an object. Stored
  as canonical JSON text (sorted keys, compact separators, UTF-8).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from .canonical import MalformedRecord, NotJSON, derive_id, raw_json  # noqa: F401  (re-exported)
from .canonical import canonical_json as canonical_text

MISSING, INVALID, OUT_OF_RANGE = 1, 2, 3
KINDS = {MISSING: "missing", INVALID: "invalid", OUT_OF_RANGE: "out_of_range"}

INT_PATTERN = r"[+-]?[0-9]+(?:\.0*)?"
NUMBER_PATTERN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
TZ_PATTERN = r"(?P<tz>Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
TIMESTAMP_PATTERN = (
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?)?" + TZ_PATTERN + "?)?"
)
DATE_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", TIMESTAMP_PATTERN)
TRUE_TEXT = ("true", "1", "yes")
FALSE_TEXT = ("false", "0", "no")
INT64_DIGITS = 19  # 2**63 has 19 digits
DECIMAL_LIMIT = Decimal(10) ** 14  # numeric(18,4) holds |x| < 1e14
QUANTUM = Decimal("0.0001")

_INT = re.compile(INT_PATTERN)
_NUMBER = re.compile(NUMBER_PATTERN)
_TS = re.compile(TIMESTAMP_PATTERN)
_DATE = re.compile(DATE_PATTERN)

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
MIN_DAY = dt.date.min.toordinal() - EPOCH_ORDINAL
MAX_DAY = dt.date.max.toordinal() - EPOCH_ORDINAL
MIN_US = MIN_DAY * 86_400_000_000
MAX_US = (MAX_DAY + 1) * 86_400_000_000 - 1

class Bad(Exception):
    """A value breaks a rule; ``kind`` is MISSING, INVALID or OUT_OF_RANGE."""

    def __init__(self, kind: int):
        super().__init__(KINDS[kind])
        self.kind = kind


def clean(value):
    """Trim text; blank text is null."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def convert(field, value):
    """The normalised value of ``value`` for ``field`` (None for null), or raise :class:`Bad`."""
    value = clean(value)
    if value is None:
        if field.required:
            raise Bad(MISSING)
        return None
    out = _COERCE[field.type](field, value)
    check_rules(field, out)
    return out


def coerce(field, value):
    """The type conversion alone (no null handling, no choices/pattern/range rules)."""
    return _COERCE[field.type](field, value)


def check_rules(field, value) -> None:
    """choices / pattern (invalid) and minimum / maximum (out_of_range) on a converted value."""
    if value is None:
        return
    if field.choice_set is not None and value not in field.choice_set:
        raise Bad(INVALID)
    if field.regex is not None and not field.regex.fullmatch(value):
        raise Bad(INVALID)
    if field.minimum is not None:
        if value < field.minimum or (field.exclusive_minimum and value == field.minimum):
            raise Bad(OUT_OF_RANGE)
    if field.maximum is not None and value > field.maximum:
        raise Bad(OUT_OF_RANGE)


def _string(field, v):
    if isinstance(v, str):
        s = v
    elif isinstance(v, int) and not isinstance(v, bool):
        try:
            s = str(v)
        except ValueError:  # over Python's 4,300-digit conversion limit
            raise Bad(INVALID) from None
    else:
        raise Bad(INVALID)
    if field.case == "lower":
        return s.lower()
    if field.case == "upper":
        return s.upper()
    return s


def _integer(field, v):
    if isinstance(v, bool):
        raise Bad(INVALID)
    if isinstance(v, int):
        i = v
    elif isinstance(v, (float, Decimal)):
        finite = v.is_finite() if isinstance(v, Decimal) else math.isfinite(v)
        if not finite or v != int(v):
            raise Bad(INVALID)
        i = int(v)
    elif isinstance(v, str) and _INT.fullmatch(v):
        whole = v.split(".")[0]
        digits = whole.lstrip("+-").lstrip("0") or "0"  # leading zeros count towards Python's limit
        if len(digits) > INT64_DIGITS:
            raise Bad(INVALID)
        i = -int(digits) if whole.startswith("-") else int(digits)
    else:
        raise Bad(INVALID)
    if not -(2**63) <= i < 2**63:
        raise Bad(INVALID)
    return i


def _decimal(field, v):
    if isinstance(v, bool):
        raise Bad(INVALID)
    if isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise Bad(INVALID)
        d = Decimal(repr(v))
    elif isinstance(v, Decimal):
        if not v.is_finite():
            raise Bad(INVALID)
        d = v
    elif isinstance(v, str) and _NUMBER.fullmatch(v):
        d = Decimal(v)
    else:
        raise Bad(INVALID)
    if d and d.adjusted() >= 14:  # judged by its exponent: abs() of 1E+1000000 overflows the context
        raise Bad(OUT_OF_RANGE)
    if abs(d) >= DECIMAL_LIMIT:
        raise Bad(OUT_OF_RANGE)
    try:
        d = d.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # pragma: no cover - guarded by the limit above
        raise Bad(OUT_OF_RANGE) from None
    if abs(d) >= DECIMAL_LIMIT:
        raise Bad(OUT_OF_RANGE)
    return d if d else QUANTUM * 0  # no negative zero


def _number(field, v):
    if isinstance(v, bool):
        raise Bad(INVALID)
    try:
        if isinstance(v, (int, float, Decimal)):
            x = float(v)
        elif isinstance(v, str) and _NUMBER.fullmatch(v):
            x = float(v)
        else:
            raise Bad(INVALID)
    except OverflowError:
        raise Bad(INVALID) from None
    if not math.isfinite(x):
        raise Bad(INVALID)
    return x


def _boolean(field, v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if v in (0, 1):
            return bool(v)
        raise Bad(INVALID)
    if isinstance(v, str):
        s = v.lower()
        if s in TRUE_TEXT:
            return True
        if s in FALSE_TEXT:
            return False
    raise Bad(INVALID)


def _date(field, v):
    if isinstance(v, dt.datetime):
        raise Bad(INVALID)
    if isinstance(v, dt.date):
        return v
    if not isinstance(v, str) or not _DATE.fullmatch(v):
        raise Bad(INVALID)
    try:
        return dt.date(int(v[0:4]), int(v[5:7]), int(v[8:10]))
    except ValueError:
        raise Bad(INVALID) from None


def timestamp_micros(field, v) -> int:
    """UTC microseconds since the epoch for a timestamp input (see module docstring)."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is None or v.utcoffset() is None:
            if field.tz_aware:
                raise Bad(INVALID)
            v = v.replace(tzinfo=UTC)
        us = (v - EPOCH) // dt.timedelta(microseconds=1)
    elif isinstance(v, str) and not (field.epoch and _NUMBER.fullmatch(v)):
        us = _iso_micros(v, field.tz_aware)
    elif field.epoch and isinstance(v, (int, float, Decimal, str)) and not isinstance(v, bool):
        try:
            us = epoch_micros(float(v))
        except OverflowError:
            raise Bad(INVALID) from None
    else:
        raise Bad(INVALID)
    if not MIN_US <= us <= MAX_US:
        raise Bad(INVALID)
    return us


def epoch_micros(x: float) -> int:
    if not math.isfinite(x):
        raise Bad(INVALID)
    a = abs(x)
    scale = 1e6 if a < 1e11 else 1e3 if a < 1e14 else 1.0 if a < 1e17 else 1e-3
    return round(x * scale)


def _iso_micros(s: str, tz_aware: bool) -> int:
    m = _TS.fullmatch(s)
    if not m:
        raise Bad(INVALID)
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    try:
        days = dt.date(int(y), int(mo), int(d)).toordinal() - EPOCH_ORDINAL
    except ValueError:
        raise Bad(INVALID) from None
    h, mi, sec = int(h or 0), int(mi or 0), int(sec or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise Bad(INVALID)
    if not tz:
        if tz_aware:
            raise Bad(INVALID)
        offset = 0
    elif tz == "Z":
        offset = 0
    else:
        digits = tz[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 23 or om > 59:
            raise Bad(INVALID)
        offset = (oh * 60 + om) * (-1 if tz[0] == "-" else 1)
    micros = int((frac or "").ljust(6, "0")[:6])
    return ((days * 86400 + h * 3600 + mi * 60 + sec) - offset * 60) * 1_000_000 + micros


def from_micros(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _timestamp(field, v):
    return from_micros(timestamp_micros(field, v))


def _json(field, v):
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except (ValueError, RecursionError):
            raise Bad(INVALID) from None
        if v is None:
            if field.required:
                raise Bad(MISSING)
            return None
    if field.object_only and not isinstance(v, dict):
        raise Bad(INVALID)
    return canonical_json(v)


def canonical_json(value) -> str:
    """:func:`canonical.canonical_json`, failing with ``Bad(INVALID)``."""
    try:
        return canonical_text(value)
    except NotJSON:
        raise Bad(INVALID) from None


def parse_list(value) -> list:
    """A child list field: a list, or JSON text of a list; empty -> MISSING, other -> INVALID."""
    value = clean(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise Bad(INVALID) from None
    if value is None or (isinstance(value, list) and not value):
        raise Bad(MISSING)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Bad(INVALID)
    return value


_COERCE = {
    "string": _string,
    "integer": _integer,
    "decimal": _decimal,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "json": _json,
}
