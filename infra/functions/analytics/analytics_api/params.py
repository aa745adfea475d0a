"""Typed, validated operation parameters with documented defaults.

Each :class:`Param` parses a raw value (query-string text or a JSON value), applies its default and
describes itself as JSON Schema for the OpenAPI document. Parsed values are normalised (dates as
dates, timeframes as "12 months"), so equal requests share one cache key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from .errors import BadRequest

_TIMEFRAME = re.compile(r"^\s*(\d{1,3})\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
TIMEFRAME_LIMITS = {"day": 3660, "week": 520, "month": 120, "year": 10}


def today() -> date:
    return datetime.now(timezone.utc).date()


def _invalid(name: str, message: str) -> BadRequest:
    return BadRequest(f"parameter '{name}': {message}", code="invalid_parameter", details={"parameter": name})


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # integer | number | date | choice | timeframe | code
    description: str
    default: Any = None  # a value, a callable returning one (dates), or None for "no filter"
    default_doc: str = ""  # how the default reads in the docs when it is computed
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    examples: tuple[Any, ...] = field(default=())

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def parse(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if self.required:
                raise BadRequest(f"parameter '{self.name}' is required", code="missing_parameter",
                                 details={"parameter": self.name})
            return self.default_value()
        return getattr(self, f"_{self.kind}")(raw)

    def _integer(self, raw: Any) -> int:
        if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
            raise _invalid(self.name, f"expected a whole number, got {raw!r}")
        try:
            value = int(raw.strip()) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError, OverflowError):
            raise _invalid(self.name, f"expected a whole number, got {str(raw)[:40]!r}") from None
        return int(self._bounded(value))

    def _number(self, raw: Any) -> float:
        if isinstance(raw, bool):
            raise _invalid(self.name, f"expected a number, got {raw!r}")
        try:
            value = float(raw.strip()) if isinstance(raw, str) else float(raw)
        except (TypeError, ValueError, OverflowError):
            raise _invalid(self.name, f"expected a number, got {str(raw)[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise _invalid(self.name, "expected a finite number")
        return self._bounded(value)

    def _bounded(self, value: float) -> float:
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise _invalid(self.name, f"{value:g} is outside {self.minimum:g}..{self.maximum:g}")
        return value

    def _date(self, raw: Any) -> date:
        if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
            raise _invalid(self.name, f"expected a date YYYY-MM-DD, got {str(raw)[:40]!r}")
        try:
            value = date.fromisoformat(raw.strip())
        except ValueError:
            raise _invalid(self.name, f"{raw.strip()!r} is not a calendar date") from None
        if not date(1970, 1, 1) <= value <= date(2999, 12, 31):
            raise _invalid(self.name, "expected a date between 1970-01-01 and 2999-12-31")
        return value

    def _choice(self, raw: Any) -> str:
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in self.choices:
            raise _invalid(self.name, f"expected one of {', '.join(self.choices)}")
        return value

    def _code(self, raw: Any) -> str:
        """An upper-case code from an allow-list (ISO country or currency)."""
        value = raw.strip().upper() if isinstance(raw, str) else raw
        if value not in self.choices:
            raise _invalid(self.name, f"{str(raw)[:10]!r} is not a known code")
        return value

    def _timeframe(self, raw: Any) -> str:
        match = _TIMEFRAME.match(raw) if isinstance(raw, str) else None
        if not match:
            raise _invalid(self.name, 'expected "<n> days|weeks|months|years", e.g. "12 months"')
        count, unit = int(match.group(1)), match.group(2).lower()
        if not 1 <= count <= TIMEFRAME_LIMITS[unit]:
            raise _invalid(self.name, f"between 1 and {TIMEFRAME_LIMITS[unit]} {unit}s")
        return f"{count} {unit}{'s' if count != 1 else ''}"

    def schema(self) -> dict:
        """JSON Schema of the raw value as a client sends it."""
        doc = {"description": self.description}
        if self.kind == "integer":
            doc.update(type="integer", minimum=self.minimum, maximum=self.maximum)
        elif self.kind == "number":
            doc.update(type="number", minimum=self.minimum, maximum=self.maximum)
        elif self.kind == "date":
            doc.update(type="string", format="date")
        elif self.kind in ("choice", "code"):
            doc.update(type="string", enum=list(self.choices))
        else:
            doc.update(type="string", pattern=_TIMEFRAME.pattern)
        default = self.default if not callable(self.default) else None
        if default is not None:
            doc["default"] = default
        if self.default_doc:
            doc["description"] += f" Default: {self.default_doc}."
        return doc


def days_ago(n: int) -> Callable[[], date]:
    return lambda: today() - timedelta(days=n)


def check_range(values: dict, start: str, end: str, max_days: int) -> None:
    if values[start] > values[end]:
        raise BadRequest(f"'{start}' ({values[start]}) is after '{end}' ({values[end]})",
                         code="invalid_parameter", details={"parameter": start})
    if (values[end] - values[start]).days + 1 > max_days:
        raise BadRequest(f"the range {values[start]}..{values[end]} is longer than {max_days} days",
                         code="invalid_parameter", details={"parameter": start})


def parse_all(specs: tuple[Param, ...], raw: dict[str, Any]) -> dict[str, Any]:
    known = {p.name for p in specs}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)[:200]}; this operation takes: "
                         f"{', '.join(sorted(known)) or 'no parameters'}", code="unknown_parameter",
                         details={"parameter": unknown[0][:100]})
    return {p.name: p.parse(raw.get(p.name)) for p in specs}


def normalised(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready parameters as the answer reports them and the cache keys them."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in sorted(values.items())}
