"""The named operations: each is a name, typed parameters, the datasets it reads and a function.

Datasets matter for the cache: a ``PartitionLoaded`` event for a dataset invalidates exactly the
operations that read it. ``OPERATIONS`` is filled by the ``ops_*`` modules as they are imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.contracts.codes import COUNTRY_CODES, CURRENCY_CODES

from .params import Param

REVENUE_STATUSES = ["paid", "shipped", "delivered"]  # as the aggregates count revenue
ALL_DATASETS = tuple(CONTRACTS)
CURRENCY = Param("currency", "code", "Only orders in this ISO-4217 currency. Default: every currency, "
                 "reported separately (the warehouse has no exchange rates).", choices=tuple(sorted(CURRENCY_CODES)))
COUNTRY = Param("country", "code", "Only customers of this ISO-3166 alpha-2 country. Default: all.",
                choices=tuple(sorted(COUNTRY_CODES)))


@dataclass
class Context:
    """What an operation may use: a read-only cursor in one snapshot, and AWS readers."""

    cur: Any
    has_trgm: bool
    aws: Any = None  # crosscheck.AwsReaders, for the cross-system counts


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str
    params: tuple[Param, ...]
    datasets: tuple[str, ...]
    run: Callable[[Context, dict], dict]
    check: Callable[[dict], None] | None = None  # cross-parameter validation
    needs_aws: bool = False
    tags: tuple[str, ...] = field(default=())


OPERATIONS: dict[str, Operation] = {}


def operation(name: str, summary: str, params: tuple[Param, ...] = (), datasets: tuple[str, ...] = ALL_DATASETS,
              check: Callable[[dict], None] | None = None, needs_aws: bool = False):
    def register(run: Callable[[Context, dict], dict]) -> Callable[[Context, dict], dict]:
        OPERATIONS[name] = Operation(name, summary, params, datasets, run, check, needs_aws)
        return run
    return register


def plain(value: Any) -> Any:
    """Database values → JSON values (money as numbers rounded in SQL, dates as ISO text)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def fetch(ctx: Context, query, params: dict | None = None) -> list[dict]:
    ctx.cur.execute(query, params or {})
    return [plain(row) for row in ctx.cur.fetchall()]
