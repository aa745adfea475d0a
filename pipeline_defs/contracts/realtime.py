"""The real-time metrics store (stdlib only): item keys, counter names, and the summary users read.

One DynamoDB table (``PIPELINE_REALTIME_TABLE``, pk/sk, GSI ``by_event_type`` (event_type, sk),
TTL ``expires_at``) holds two kinds of items:

* metrics — ``pk=metrics#<day>``, ``sk=<day>#<kind>`` (kind = a web event type or ``market_tick``),
  ``event_type=<kind>``: top-level number attributes that only ever grow by ``ADD``
  (``n``; ``h#<HH>``; ``dev#<device>``; ``lt#<bin>``/``lt_n``/``lt_sum`` for page loads;
  ``amt#<CUR>``/``cnt#<CUR>``/``pay#<method>``; ``camp#<source>``/``meth#<method>``;
  ``el#<element_id>``; ``err#<error_type>``; ``sym#<SYMBOL>``/``vol#<SYMBOL>``). The GSI lists one
  kind across days: ``event_type = page_view AND sk BETWEEN '2026-11-01' AND '2026-11-30~'``.
* ledger — ``pk=ledger#<shard>``, ``sk`` = the last sequence number of a committed batch
  (fixed-width digits), ``first``, ``seqs`` (comma-separated): the records whose counters that
  batch's transaction added, so a redelivery can tell counted records from new ones.

**Bounded items.** Dimension values become attribute names, so each metrics item keeps at most
``MAX_DIMENSION_VALUES`` distinct values per dimension (:data:`DIMENSIONS`; the first values seen,
the most frequent of a batch first); any further value adds to the dimension's *other* bucket,
``<prefix>~`` (``el~``, ``err~``, ``sym~``/``vol~``, …; no amount for other currencies, a sum across
currencies means nothing). Two batches admitting values at the same moment may each fill the room
they saw, so a dimension holds at most ``MAX_DIMENSION_VALUES + 100 × (concurrent batches − 1)``
values; :func:`worst_item_bytes` is far below DynamoDB's 400 KB even then.

Business keys (which event was counted) live in their own table, see ``seen_key``.

Everything expires 30 days after its day (TTL), so the tables never need cleaning.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal

from .stream_records import MARKET_KIND, WEB_EVENT_TYPES

TTL_DAYS = 30
MAX_DIMENSION_CHARS = 100  # dimension values become attribute names: keep items far below 400 KB
LT_STEP = math.log(1.1)  # page-load histogram: bins 10% wide, so percentiles are within ~5%
LT_MAX_MS = 10_000_000.0
MAX_DIMENSION_VALUES = 200  # distinct values per dimension per item; the rest count as "other"
# Each dimension: the counter prefixes keyed by its value (admitted together, the first one always present).
DIMENSIONS: tuple[tuple[str, ...], ...] = (
    ("dev#",), ("cnt#", "amt#"), ("pay#",), ("camp#",), ("meth#",), ("el#",), ("err#",), ("sym#", "vol#"))
NO_OTHER = frozenset({"amt#"})
MAX_KEY_CHARS = 200  # longer business keys are stored by their SHA-256


def metrics_key(day: str, kind: str) -> dict:
    return {"pk": f"metrics#{day}", "sk": f"{day}#{kind}"}


def ledger_key(shard: str, padded_last_seq: str) -> dict:
    return {"pk": f"ledger#{shard}", "sk": padded_last_seq}


def seen_key(dataset: str, record: dict) -> str:
    """The business key of a counted record: ``e#<event_id>`` for a web event (derived from the record
    when the client sent none, so an identical re-send has the same one). Ticks are keyed by their
    market-state item (``symbol``, ``ts``) instead, which the processor writes once per tick."""
    key = f"e#{record['event_id']}" if dataset == "web_events" else f"t#{record['symbol']}#{record['ts']}"
    if len(key) > MAX_KEY_CHARS:
        key = key[:2] + "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def other(prefix: str) -> str:
    """The attribute counting a dimension's values beyond the bound (``el#`` → ``el~``)."""
    return prefix[:-1] + "~"


def bounded(counters: Counter, present: Iterable[str], room: int = MAX_DIMENSION_VALUES) -> Counter:
    """``counters`` for an item whose attribute names are ``present``: each dimension admits new values
    while it has fewer than ``room`` (a batch's most frequent first); the rest move to its other bucket."""
    out = Counter(counters)
    names = set(present)
    for group in DIMENSIONS:
        lead = group[0]
        batch = {name[len(lead):]: n for name, n in counters.items() if name.startswith(lead)}
        if not batch:
            continue
        have = sum(1 for name in names if name.startswith(lead))
        new = sorted((v for v in batch if lead + v not in names), key=lambda v: (-batch[v], v))
        for value in new[max(0, room - have):]:
            for prefix in group:
                n = out.pop(prefix + value, None)
                if n is not None and prefix not in NO_OTHER:
                    out[other(prefix)] += n
    return out


def worst_item_bytes(concurrent_batches: int = 4) -> int:
    """An upper bound of a metrics item's size: the widest item (purchases: ``dev#``, ``cnt#``, ``amt#``,
    ``pay#``) with every dimension full of the longest names, numbers at 21 bytes, hours and load bins."""
    values = MAX_DIMENSION_VALUES + 100 * (concurrent_batches - 1)
    per_name = 5 + MAX_DIMENSION_CHARS + 21
    fixed = 24 + int(math.log(LT_MAX_MS) / LT_STEP) + 2 + 16
    return (values * 4 + fixed) * per_name + 200


@functools.lru_cache(maxsize=64)
def expires_at(day: str) -> int:
    """Epoch seconds, TTL_DAYS after the end of ``day`` — deterministic, so rewriting it is idempotent."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)
    return int(start.timestamp()) + (TTL_DAYS + 1) * 86_400


def dim(value) -> str:
    """A dimension value as an attribute-name suffix (None → ``unknown``)."""
    if value.__class__ is str and 0 < len(value) <= MAX_DIMENSION_CHARS:
        return value
    if value is None or value == "":
        return "unknown"
    return str(value)[:MAX_DIMENSION_CHARS]


def lt_bin(ms: float) -> int:
    if ms < 1.0:
        return 0
    return int(math.log(min(ms, LT_MAX_MS)) / LT_STEP) + 1


def lt_value(bin_: int) -> float:
    """A representative load time for a bin (its geometric middle)."""
    return 0.5 if bin_ <= 0 else math.exp((bin_ - 0.5) * LT_STEP)


class Aggregate:
    """Counters for one or more batches, per (day, kind) item; each ``add_*`` is O(1)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Counter] = defaultdict(Counter)

    def add_event(self, day: str, hour: str, kind: str, record: dict) -> None:
        c = self.items[(day, kind)]
        get = record.get
        c["n"] += 1
        c["h#" + hour] += 1
        c["dev#" + dim(get("device_type"))] += 1
        if kind == "page_view":
            ms = _number(get("load_time_ms"))
            if ms is not None:
                c["lt#%d" % lt_bin(ms)] += 1
                c["lt_n"] += 1
                c["lt_sum"] += ms
        elif kind == "click":
            c["el#" + dim(get("element_id"))] += 1
        elif kind == "purchase":
            currency = dim(get("currency"))
            amount = _number(get("amount"))
            if amount is not None:
                c["amt#" + currency] += Decimal(repr(amount)) if amount.__class__ is float else Decimal(amount)
            c["cnt#" + currency] += 1
            c["pay#" + dim(get("payment_method"))] += 1
        elif kind == "user_signup":
            c["camp#" + dim(get("campaign_source"))] += 1
            c["meth#" + dim(get("signup_method"))] += 1
        elif kind == "error":
            c["err#" + dim(get("error_type"))] += 1

    def add_tick(self, day: str, hour: str, symbol: str, volume) -> None:
        c = self.items[(day, MARKET_KIND)]
        c["n"] += 1
        c["h#" + hour] += 1
        c["sym#" + dim(symbol)] += 1
        v = _number(volume)
        if v is not None:
            c["vol#" + dim(symbol)] += Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def number_text(value) -> str:
    """A counter value as DynamoDB number text (floats rounded to 6 places, never exponent noise)."""
    if isinstance(value, float):
        return format(round(value, 6), "f").rstrip("0").rstrip(".") or "0"
    return str(value)


def plain(item: dict) -> dict:
    """A low-level DynamoDB item (``{"N": "3"}``) as Python values (S and N are all we write)."""
    out = {}
    for name, typed in item.items():
        if "N" in typed:
            text = typed["N"]
            out[name] = int(text) if text.lstrip("-").isdigit() else float(text)
        elif "S" in typed:
            out[name] = typed["S"]
    return out


def day_items(ddb, table: str, day: str) -> list[dict]:
    """Every metrics item of one day (plain values), following DynamoDB's pagination."""
    items, kwargs = [], {}
    while True:
        page = ddb.query(TableName=table, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": {"S": f"metrics#{day}"}}, **kwargs)
        items += [plain(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def event_counts(items: list[dict]) -> dict[str, int]:
    """``{kind: n}`` from a day's metrics items (plain values)."""
    return {item["event_type"]: int(item.get("n", 0)) for item in items if "event_type" in item}


def _group(item: dict, prefix: str, cast=int) -> dict:
    found = {name[len(prefix):]: cast(value) for name, value in item.items() if name.startswith(prefix)}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def percentile(hist: dict[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for bin_ in sorted(hist):
        seen += hist[bin_]
        if seen >= rank:
            return round(lt_value(bin_), 1)
    return round(lt_value(max(hist)), 1)


def _others(item: dict, **prefixes: str) -> dict:
    """``{breakdown: n}`` of the values counted in other buckets (beyond MAX_DIMENSION_VALUES), non-zero only."""
    found = {name: int(item.get(other(prefix), 0)) for name, prefix in prefixes.items()}
    return {name: n for name, n in found.items() if n}


def summarise(day: str, items: list[dict], latest: dict[str, dict] | None = None) -> dict:
    """The ``GET /metrics/realtime`` answer for one day from its metrics items (plain values).

    Each section's ``other`` holds what its breakdowns counted beyond ``MAX_DIMENSION_VALUES``
    distinct values (``{"by_element": 4300}``), so the breakdowns plus ``other`` add up to ``count``."""
    by_kind = {item["event_type"]: item for item in items if "event_type" in item}
    counts = {kind: int(by_kind.get(kind, {}).get("n", 0)) for kind in WEB_EVENT_TYPES}
    devices: Counter = Counter()
    hours: Counter = Counter()
    other_devices = 0
    for kind in WEB_EVENT_TYPES:
        item = by_kind.get(kind, {})
        devices.update(_group(item, "dev#"))
        hours.update(_group(item, "h#"))
        other_devices += int(item.get(other("dev#"), 0))
    pv = by_kind.get("page_view", {})
    hist = {int(k): v for k, v in _group(pv, "lt#").items()}
    lt_n = int(pv.get("lt_n", 0))
    buy = by_kind.get("purchase", {})
    market = by_kind.get(MARKET_KIND, {})
    ticks = _group(market, "sym#")
    volumes = _group(market, "vol#", float)
    latest = latest or {}
    symbols = {s: {"ticks": n, "volume": volumes.get(s, 0.0), "latest": latest.get(s)} for s, n in ticks.items()}
    signups, clicks, errors = (by_kind.get(k, {}) for k in ("user_signup", "click", "error"))
    other_symbols = {"ticks": int(market.get(other("sym#"), 0)), "volume": float(market.get(other("vol#"), 0))}
    return {
        "date": day,
        "event_counts": counts,
        "total_events": sum(counts.values()),
        "by_device": dict(devices.most_common()),
        "other": {"by_device": other_devices} if other_devices else {},
        "by_hour": dict(sorted(hours.items())),
        "page_views": {"count": counts["page_view"], "load_time_ms": {
            "samples": lt_n, "p50": percentile(hist, 0.50), "p95": percentile(hist, 0.95),
            "mean": round(float(pv.get("lt_sum", 0)) / lt_n, 1) if lt_n else None}},
        "purchases": {"count": counts["purchase"],
                      "amount_by_currency": {k: round(v, 2) for k, v in _group(buy, "amt#", float).items()},
                      "count_by_currency": _group(buy, "cnt#"), "by_payment_method": _group(buy, "pay#"),
                      "other": _others(buy, count_by_currency="cnt#", by_payment_method="pay#")},
        "signups": {"count": counts["user_signup"], "by_campaign": _group(signups, "camp#"),
                    "by_method": _group(signups, "meth#"),
                    "other": _others(signups, by_campaign="camp#", by_method="meth#")},
        "clicks": {"count": counts["click"], "by_element": _group(clicks, "el#"),
                   "other": _others(clicks, by_element="el#")},
        "errors": {"count": counts["error"], "by_type": _group(errors, "err#"), "other": _others(errors, by_type="err#")},
        "market": {"ticks": int(market.get("n", 0)), "symbols": symbols,
                   "other": {"symbols": other_symbols} if other_symbols["ticks"] else {}},
    }
