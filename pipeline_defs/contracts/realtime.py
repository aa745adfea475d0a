"""The real-time metrics store (stdlib only): item keys, counter names, and the summary users read.

One DynamoDB table (``PIPELINE_REALTIME_TABLE``, pk/sk, GSI ``by_event_type`` (event_type, sk),
TTL ``expires_at``) holds three kinds of items:

* metrics — ``pk=metrics#<day>``, ``sk=<day>#<kind>`` (kind = a web event type or ``market_tick``),
  ``event_type=<kind>``: top-level number attributes that only ever grow by ``ADD``
  (``n``; ``h#<HH>``; ``dev#<device>``; ``lt#<bin>``/``lt_n``/``lt_sum`` for page loads;
  ``amt#<CUR>``/``cnt#<CUR>``/``pay#<method>``; ``camp#<source>``/``meth#<method>``;
  ``el#<element_id>``; ``err#<error_type>``; ``sym#<SYMBOL>``/``vol#<SYMBOL>``). The GSI lists one
  kind across days: ``event_type = page_view AND sk BETWEEN '2026-11-01' AND '2026-11-30~'``.
* ledger — ``pk=ledger#<shard>``, ``sk`` = the last sequence number of a committed batch
  (fixed-width digits), ``first``, ``seqs`` (comma-separated): the records whose counters that
  batch's transaction added, so a redelivery can tell counted records from new ones.

Everything expires 30 days after its day (TTL), so the table never needs cleaning.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from decimal import Decimal

from .stream_records import MARKET_KIND, WEB_EVENT_TYPES

TTL_DAYS = 30
MAX_DIMENSION_CHARS = 100  # dimension values become attribute names: keep items far below 400 KB
LT_STEP = math.log(1.1)  # page-load histogram: bins 10% wide, so percentiles are within ~5%
LT_MAX_MS = 10_000_000.0


def metrics_key(day: str, kind: str) -> dict:
    return {"pk": f"metrics#{day}", "sk": f"{day}#{kind}"}


def ledger_key(shard: str, padded_last_seq: str) -> dict:
    return {"pk": f"ledger#{shard}", "sk": padded_last_seq}


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


def summarise(day: str, items: list[dict], latest: dict[str, dict] | None = None) -> dict:
    """The ``GET /metrics/realtime`` answer for one day from its metrics items (plain values)."""
    by_kind = {item["event_type"]: item for item in items if "event_type" in item}
    counts = {kind: int(by_kind.get(kind, {}).get("n", 0)) for kind in WEB_EVENT_TYPES}
    devices: Counter = Counter()
    hours: Counter = Counter()
    for kind in WEB_EVENT_TYPES:
        item = by_kind.get(kind, {})
        devices.update(_group(item, "dev#"))
        hours.update(_group(item, "h#"))
    pv = by_kind.get("page_view", {})
    hist = {int(k): v for k, v in _group(pv, "lt#").items()}
    lt_n = int(pv.get("lt_n", 0))
    buy = by_kind.get("purchase", {})
    market = by_kind.get(MARKET_KIND, {})
    ticks = _group(market, "sym#")
    volumes = _group(market, "vol#", float)
    latest = latest or {}
    symbols = {s: {"ticks": n, "volume": volumes.get(s, 0.0), "latest": latest.get(s)} for s, n in ticks.items()}
    return {
        "date": day,
        "event_counts": counts,
        "total_events": sum(counts.values()),
        "by_device": dict(devices.most_common()),
        "by_hour": dict(sorted(hours.items())),
        "page_views": {"count": counts["page_view"], "load_time_ms": {
            "samples": lt_n, "p50": percentile(hist, 0.50), "p95": percentile(hist, 0.95),
            "mean": round(float(pv.get("lt_sum", 0)) / lt_n, 1) if lt_n else None}},
        "purchases": {"count": counts["purchase"],
                      "amount_by_currency": {k: round(v, 2) for k, v in _group(buy, "amt#", float).items()},
                      "count_by_currency": _group(buy, "cnt#"), "by_payment_method": _group(buy, "pay#")},
        "signups": {"count": counts["user_signup"], "by_campaign": _group(by_kind.get("user_signup", {}), "camp#"),
                    "by_method": _group(by_kind.get("user_signup", {}), "meth#")},
        "clicks": {"count": counts["click"], "by_element": _group(by_kind.get("click", {}), "el#")},
        "errors": {"count": counts["error"], "by_type": _group(by_kind.get("error", {}), "err#")},
        "market": {"ticks": int(market.get("n", 0)), "symbols": symbols},
    }
