"""One column at a time: raw Python values → typed Arrow array + a per-row outcome code.

Codes are 0 (ok), 1 (missing), 2 (invalid), 3 (out_of_range), as in ``values``. Columns whose
values share one Python type (all text — CSV —, all ints, all floats, all bools) take vectorised
pyarrow.compute paths; anything else (mixed types, dates/Decimals, overflow, a cast Arrow refuses)
falls back to ``values.convert`` per value, so the outcome always equals per-record validation.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import values as V
from .schema import arrow_type

_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError)
_DEC = pa.decimal128(38, 10)  # decimal text is parsed at this width, then rounded to 4 places
_LIMIT = pa.scalar(V.DECIMAL_LIMIT, _DEC)
_TS_UTC = pa.timestamp("us", tz="UTC")
_TZ_SUFFIX = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?" + V.TZ_PATTERN.replace("?P<tz>", "?:") + "$"


# str.strip() removes exactly these; Arrow's utf8_trim_whitespace has a slightly different set.
_PY_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


class _Fallback(Exception):
    """This column needs the per-value path."""


FALLBACKS: Counter = Counter()  # field name -> columns that took the per-value path (diagnostics)


def _np(mask) -> np.ndarray:
    """Arrow boolean (nulls = False) → numpy bool."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _full(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _where(mask: np.ndarray, arr: pa.Array) -> pa.Array:
    """arr with nulls where ``mask`` is False."""
    return pc.if_else(pa.array(mask), arr, pa.scalar(None, arr.type))


def convert_column(field, raw: list | None, n: int | None = None) -> tuple[pa.Array, np.ndarray]:
    """``(typed array, codes)`` for one field; ``raw=None`` means the field is absent in all n rows."""
    if raw is None:
        codes = np.full(n, V.MISSING if field.required else 0, np.int8)
        return pa.nulls(n, arrow_type(field)), codes
    if field.type != "json":
        try:
            return _fast(field, pa.array(raw, from_pandas=False))
        except (_Fallback, *_ERRORS):
            FALLBACKS[field.name] += 1
    return fallback(field, raw)


def fallback(field, raw: list) -> tuple[pa.Array, np.ndarray]:
    codes = np.zeros(len(raw), np.int8)
    out: list = [None] * len(raw)
    convert, required = V.convert, field.required
    for i, value in enumerate(raw):
        if value is None:
            if required:
                codes[i] = V.MISSING
            continue
        try:
            out[i] = convert(field, value)
        except V.Bad as bad:
            codes[i] = bad.kind
    return pa.array(out, type=arrow_type(field)), codes


def _fast(field, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    n, t = len(arr), arr.type
    oor = np.zeros(n, bool)
    if pa.types.is_null(t):
        values, missing, invalid = pa.nulls(n, arrow_type(field)), np.ones(n, bool), np.zeros(n, bool)
    else:
        if pa.types.is_string(t):
            arr = pc.utf8_trim(arr, characters=_PY_WHITESPACE)
            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
            handler = _TEXT[field.type]
        elif pa.types.is_int64(t):
            handler = _INT[field.type]
        elif pa.types.is_float64(t):
            handler = _FLOAT[field.type]
        elif pa.types.is_boolean(t):
            handler = _bool_input if field.type == "boolean" else _reject_all
        else:
            raise _Fallback
        missing = _np(pc.is_null(arr))
        values, ok, bad_range = handler(field, arr, ~missing)
        invalid = ~missing & ~ok
        oor |= bad_range & ~invalid
    return _finish(field, values, missing, invalid, oor)


def _finish(field, values, missing, invalid, oor):
    present = ~missing & ~invalid & ~oor
    if field.type == "string" and present.any():
        if field.case and not pc.all(pc.string_is_ascii(values)).as_py():
            raise _Fallback  # Python's full Unicode case mapping differs from Arrow's simple one
        if field.case == "lower":
            values = pc.utf8_lower(values)
        elif field.case == "upper":
            values = pc.utf8_upper(values)
        ok = np.ones(len(values), bool)
        if field.choice_set is not None:
            ok &= _np(pc.is_in(values, value_set=pa.array(sorted(field.choice_set), pa.string())))
        if field.pattern is not None:
            ok &= _np(pc.match_substring_regex(values, _full(field.pattern)))
        invalid |= present & ~ok
    elif field.has_range and present.any():
        low = pc.less_equal if field.exclusive_minimum else pc.less
        bad = np.zeros(len(values), bool)
        if field.minimum is not None:
            bad |= _np(low(values, _bound(field.minimum, values.type)))
        if field.maximum is not None:
            bad |= _np(pc.greater(values, _bound(field.maximum, values.type)))
        oor |= present & bad
    codes = np.zeros(len(values), np.int8)
    codes[oor] = V.OUT_OF_RANGE
    codes[invalid] = V.INVALID
    if field.required:
        codes[missing] = V.MISSING
    return values, codes


def _bound(value, type_: pa.DataType) -> pa.Scalar:
    if pa.types.is_decimal(type_):
        return pa.scalar(V.Decimal(str(value)), type_)
    if pa.types.is_floating(type_):
        return pa.scalar(float(value), type_)
    return pa.scalar(int(value), type_)


# --- handlers: (field, arr, present) -> (typed values, ok, out_of_range) ---------------------------


def _none(n):
    return np.zeros(n, bool)


def _reject_all(field, arr, present):
    return pa.nulls(len(arr), arrow_type(field)), ~present, _none(len(arr))


def _text_string(field, arr, present):
    return arr, present | ~present, _none(len(arr))


def _text_integer(field, arr, present):
    ok = _np(pc.match_substring_regex(arr, _full(V.INT_PATTERN)))
    digits = pc.replace_substring_regex(pc.replace_substring_regex(arr, r"\.0*$", ""), r"^\+", "")
    return pc.cast(_where(ok, digits), pa.int64()), ok, _none(len(arr))


def _text_decimal(field, arr, present):
    ok = _np(pc.match_substring_regex(arr, _full(V.NUMBER_PATTERN)))
    wide = pc.cast(_where(ok, arr), _DEC)  # more than 10 decimals or 28 digits: the cast fails → fallback
    big = _np(pc.greater_equal(pc.abs(wide), _LIMIT))
    rounded = pc.round(wide, 4, round_mode="half_to_even")
    big |= _np(pc.greater_equal(pc.abs(rounded), _LIMIT))
    values = pc.cast(_where(~big, rounded), pa.decimal128(18, 4))
    return values, ok, big


def _text_number(field, arr, present):
    ok = _np(pc.match_substring_regex(arr, _full(V.NUMBER_PATTERN)))
    values = pc.cast(_where(ok, arr), pa.float64())
    ok &= _np(pc.is_finite(values))
    return _where(ok, values), ok, _none(len(arr))


def _text_boolean(field, arr, present):
    low = pc.utf8_lower(arr)
    yes = _np(pc.is_in(low, value_set=pa.array(V.TRUE_TEXT)))
    no = _np(pc.is_in(low, value_set=pa.array(V.FALSE_TEXT)))
    return _where(yes | no, pa.array(yes)), yes | no, _none(len(arr))


def _text_date(field, arr, present):
    ok = _np(pc.match_substring_regex(arr, _full(V.DATE_PATTERN)))
    days = pc.cast(_where(ok, pc.utf8_slice_codeunits(arr, 0, 10)), pa.date32())
    ok &= _np(pc.greater_equal(days, pa.scalar(V.MIN_DAY, pa.int32()).cast(pa.date32())))
    return _where(ok, days), ok, _none(len(arr))


def _text_timestamp(field, arr, present):
    n = len(arr)
    micros, ok = np.zeros(n, np.int64), np.zeros(n, bool)
    iso = arr
    if field.epoch:
        numeric = _np(pc.match_substring_regex(arr, _full(V.NUMBER_PATTERN)))
        if numeric.any():
            x = pc.cast(_where(numeric, arr), pa.float64()).to_numpy(zero_copy_only=False)
            micros, ok = _epoch(x, numeric)
            iso = _where(~numeric, arr)
    shaped = _np(pc.match_substring_regex(iso, _full(V.TIMESTAMP_PATTERN)))
    if shaped.any():
        text = _where(shaped, iso)
        aware = _np(pc.match_substring_regex(text, _TZ_SUFFIX))
        try:
            us = _cast_iso(text, aware)
        except _ERRORS:  # more than 6 fractional digits: truncate like values.py, then retry
            us = _cast_iso(pc.replace_substring_regex(text, r"(\.[0-9]{6})[0-9]+", r"\1"), aware)
        good = shaped & (aware | (not field.tz_aware))
        micros = np.where(shaped, us, micros)
        ok |= good
    ok &= (micros >= V.MIN_US) & (micros <= V.MAX_US)
    return pa.array(micros, _TS_UTC, mask=~ok), ok, _none(n)


def _cast_iso(text, aware: np.ndarray) -> np.ndarray:
    """Arrow's ISO-8601 parser, which wants offsets for tz-aware targets and none for naive ones."""
    with_tz = pc.cast(_where(aware, text), _TS_UTC).cast(pa.int64())
    naive = pc.cast(_where(~aware, text), pa.timestamp("us")).cast(pa.int64())
    return np.where(aware, _np_int(with_tz), _np_int(naive))


def _np_int(arr) -> np.ndarray:
    return pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)


def _epoch(x: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values.epoch_micros, vectorised."""
    with np.errstate(invalid="ignore", over="ignore"):
        finite = present & np.isfinite(x)
        x = np.where(finite, x, 0.0)
        a = np.abs(x)
        scale = np.select([a < 1e11, a < 1e14, a < 1e17], [1e6, 1e3, 1.0], 1e-3)
        us = np.rint(x * scale)
        ok = finite & (us >= V.MIN_US) & (us <= V.MAX_US)
    return np.where(ok, us, 0).astype(np.int64), ok


def _int_string(field, arr, present):
    return pc.cast(arr, pa.string()), present | ~present, _none(len(arr))


def _int_integer(field, arr, present):
    return arr, present | ~present, _none(len(arr))


def _int_decimal(field, arr, present):
    x = _np_int(arr)
    big = (x >= 10**14) | (x <= -(10**14))
    return pc.cast(_where(~big, arr), pa.decimal128(18, 4)), present | ~present, big & present


def _int_number(field, arr, present):
    return pc.cast(arr, pa.float64(), safe=False), present | ~present, _none(len(arr))


def _int_boolean(field, arr, present):
    ok = _np(pc.is_in(arr, value_set=pa.array([0, 1], pa.int64())))
    return _where(ok, pc.not_equal(arr, 0)), ok, _none(len(arr))


def _int_timestamp(field, arr, present):
    if not field.epoch:
        return _reject_all(field, arr, present)
    return _float_timestamp(field, pc.cast(arr, pa.float64(), safe=False), present)


def _float_integer(field, arr, present):
    x = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        ok = present & np.isfinite(x) & (np.floor(x) == x) & (x >= -(2.0**63)) & (x < 2.0**63)
    ints = np.where(ok, x, 0).astype(np.int64)
    return pa.array(ints, pa.int64(), mask=~ok), ok, _none(len(arr))


def _float_decimal(field, arr, present):
    """Arrow's float→decimal cast rounds the binary value, values.py rounds the shortest repr
    half-even: they differ only next to a rounding tie, so those (and huge values) go through
    values.convert one by one."""
    x = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = present & np.isfinite(x)
        big = ok & (np.abs(x) >= 1e14)
        y = np.abs(x) * 1e4
        risky = ok & ~big & ((np.abs(y - np.floor(y) - 0.5) < 1e-6) | (np.abs(x) >= 1e11))
    values = pc.cast(_where(ok & ~big & ~risky, arr), pa.decimal128(18, 4))
    if risky.any():
        exact = []
        for i in np.flatnonzero(risky):
            try:
                exact.append(V.coerce(field, float(x[i])))
            except V.Bad:  # rounds up to 1e14
                exact.append(None)
                big[i] = True
        values = pc.replace_with_mask(values, pa.array(risky), pa.array(exact, pa.decimal128(18, 4)))
    return values, ok, big


def _float_number(field, arr, present):
    ok = _np(pc.is_finite(arr))
    return _where(ok, arr), ok, _none(len(arr))


def _float_timestamp(field, arr, present):
    if not field.epoch:
        return _reject_all(field, arr, present)
    micros, ok = _epoch(pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False), present)
    return pa.array(micros, _TS_UTC, mask=~ok), ok, _none(len(arr))


def _bool_input(field, arr, present):
    return arr, present | ~present, _none(len(arr))


def _needs_fallback(field, arr, present):
    raise _Fallback


_TEXT = {
    "string": _text_string, "integer": _text_integer, "decimal": _text_decimal, "number": _text_number,
    "boolean": _text_boolean, "date": _text_date, "timestamp": _text_timestamp, "json": _needs_fallback,
}
_INT = {
    "string": _int_string, "integer": _int_integer, "decimal": _int_decimal, "number": _int_number,
    "boolean": _int_boolean, "date": _reject_all, "timestamp": _int_timestamp, "json": _needs_fallback,
}
_FLOAT = {  # an int among floats is inferred as float: string/boolean would judge it wrongly
    "string": _needs_fallback, "integer": _float_integer, "decimal": _float_decimal, "number": _float_number,
    "boolean": _needs_fallback, "date": _reject_all, "timestamp": _float_timestamp, "json": _needs_fallback,
}
