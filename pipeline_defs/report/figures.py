"""The daily report's figures, read from the DynamoDB aggregates: one plain dict, the JSON twin.

The HTML is rendered from exactly this dict, so the page and the JSON always show the same numbers.
Day-over-day changes compare with the previous day's aggregates; the 30-day trend leaves a gap for
days whose aggregates were never computed (instead of drawing a misleading zero).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable

from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.aggregates.store import read_partition

TREND_DAYS = 30
REPORTED = ("revenue", "orders", "new_customers", "top_products", "web_events", "purchases", "errors",
            "market_daily", "data_quality")

Reader = Callable[[str, date], list[dict]]  # (aggregate, day) -> items


def num(value):
    """Decimal from DynamoDB → int when integral, else float (JSON-friendly)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: num(v) for k, v in value.items()}
    if isinstance(value, list):
        return [num(v) for v in value]
    return value


def dynamodb_reader(ddb, table: str) -> Reader:
    def read(aggregate: str, day: date) -> list[dict]:
        items = read_partition(ddb, table, AGGREGATES[aggregate].pk(day))
        return [num({k: v for k, v in item.items() if k != "pk"}) for item in items]
    return read


def _prefixed(items: list[dict], prefix: str) -> list[dict]:
    return [i for i in items if i["sk"].startswith(prefix)]


def change_pct(value, previous):
    if value is None or previous in (None, 0):
        return None
    return round(100.0 * (value - previous) / previous, 1)


def _kpi(key: str, label: str, value, previous, fmt: str, higher_is_better: bool = True, **extra) -> dict:
    return {"key": key, "label": label, "value": value, "previous": previous,
            "change_pct": change_pct(value, previous), "format": fmt, "higher_is_better": higher_is_better, **extra}


def _day_summary(day_items: dict[str, list[dict]]) -> dict:
    """The headline numbers of one day (also used for the previous day)."""
    orders = day_items["orders"]
    total = next((i for i in orders if i["sk"] == "total"), None)
    web = day_items["web_events"]
    scores = [q["score"] for q in day_items["data_quality"] if q.get("score") is not None]
    page_all = next((i for i in web if i["sk"] == "page_load#all"), None)
    return {
        "computed": total is not None,
        "revenue": {i["currency"]: i["revenue"] for i in _prefixed(orders, "currency#")},
        "orders": total["orders"] if total else None,
        "new_customers": sum(i["customers"] for i in day_items["new_customers"]) if total else None,
        "web_events": sum(i["events"] for i in _prefixed(web, "type#")) if total else None,
        "purchases": sum(i["purchases"] for i in day_items["purchases"]) if total else None,
        "errors": sum(i["events"] for i in day_items["errors"]) if total else None,
        "page_load_p95_ms": page_all["p95_ms"] if page_all else None,
        "quality_score": round(sum(scores) / len(scores), 1) if scores else None,
    }


def kpis(today: dict, previous: dict) -> list[dict]:
    currencies = sorted(set(today["revenue"]) | set(previous["revenue"]))
    result = [_kpi(f"revenue_{c}", f"Revenue ({c})", today["revenue"].get(c, 0 if today["computed"] else None),
                   previous["revenue"].get(c, 0 if previous["computed"] else None), "money", currency=c)
              for c in currencies]
    result += [
        _kpi("orders", "Orders", today["orders"], previous["orders"], "int"),
        _kpi("new_customers", "New customers", today["new_customers"], previous["new_customers"], "int"),
        _kpi("web_events", "Web events", today["web_events"], previous["web_events"], "int"),
        _kpi("purchases", "Purchases (web)", today["purchases"], previous["purchases"], "int"),
        _kpi("errors", "Error events", today["errors"], previous["errors"], "int", higher_is_better=False),
        _kpi("page_load_p95_ms", "Page load p95", today["page_load_p95_ms"], previous["page_load_p95_ms"], "ms",
             higher_is_better=False),
        _kpi("quality_score", "Data quality", today["quality_score"], previous["quality_score"], "score"),
    ]
    return result


def revenue_trend(read: Reader, day: date, days: int = TREND_DAYS) -> dict:
    """Revenue per currency for the ``days`` days ending ``day``; None where nothing was computed."""
    dates = [day - timedelta(days=days - 1 - n) for n in range(days)]
    per_day = [read("orders", d) for d in dates]
    currencies = sorted({i["currency"] for items in per_day for i in _prefixed(items, "currency#")})
    series: dict[str, list] = {c: [] for c in currencies}
    for items in per_day:
        computed = any(i["sk"] == "total" for i in items)
        by_currency = {i["currency"]: i["revenue"] for i in _prefixed(items, "currency#")}
        for c in currencies:
            series[c].append(by_currency.get(c, 0) if computed else None)
    return {"days": [d.isoformat() for d in dates], "revenue": series}


def _web(items: list[dict]) -> dict:
    by_type: dict[str, int] = defaultdict(int)
    by_device: dict[str, int] = defaultdict(int)
    by_type_device: dict[str, dict[str, int]] = defaultdict(dict)
    for i in _prefixed(items, "type#"):
        by_type[i["event_type"]] += i["events"]
        by_device[i["device_type"]] += i["events"]
        by_type_device[i["event_type"]][i["device_type"]] = i["events"]
    page_load = {i["device"]: {"page_views": i["page_views"], "p50_ms": round(i["p50_ms"], 1),
                               "p95_ms": round(i["p95_ms"], 1)} for i in _prefixed(items, "page_load#")}
    ordered = sorted(by_type, key=lambda t: (-by_type[t], t))
    return {"total": sum(by_type.values()), "by_type": {t: by_type[t] for t in ordered},
            "by_device": dict(sorted(by_device.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_type_device": {t: by_type_device[t] for t in ordered}, "page_load": page_load,
            "from_stream_archive": {i["event_type"]: i["records"] for i in _prefixed(items, "archive#")}}


def _quality(items: list[dict]) -> list[dict]:
    keep = ("dataset", "status", "files", "files_loaded", "files_rejected", "rows_in", "rows_loaded",
            "rows_quarantined", "loaded_pct", "checks_passed", "checks_total", "failed_checks", "score", "top_reasons")
    return [{k: i.get(k) for k in keep} for i in sorted(items, key=lambda i: i["dataset"])]


def _market(items: list[dict]) -> list[dict]:
    return [{"symbol": i["symbol"], "open": i["open"], "high": i["high"], "low": i["low"], "close": i["close"],
             "volume": i["volume"], "ticks": i["ticks"], "change_pct": change_pct(i["close"], i["open"])}
            for i in items]


def build_figures(read: Reader, day: date, stream_counts: dict[str, int] | None = None) -> dict:
    """Every figure of the report for ``day``; ``stream_counts`` are the hot path's events by type, if any."""
    today = {name: read(name, day) for name in REPORTED}
    previous_day = day - timedelta(days=1)
    previous = {name: read(name, previous_day) for name in ("orders", "new_customers", "web_events", "purchases",
                                                             "errors", "data_quality")}
    summary, previous_summary = _day_summary(today), _day_summary(previous)
    web = _web(today["web_events"])
    quality = _quality(today["data_quality"])
    orders = today["orders"]
    total = next((i for i in orders if i["sk"] == "total"), {})
    files = {"processed": sum(q["files"] or 0 for q in quality), "loaded": sum(q["files_loaded"] or 0 for q in quality),
             "failed": sum(q["files_rejected"] or 0 for q in quality)}
    has_data = bool(files["processed"] or total.get("orders") or web["total"] or today["market_daily"]
                    or today["new_customers"])
    return {
        "report": "daily_report",
        "date": day.isoformat(),
        "previous_date": previous_day.isoformat(),
        "aggregates_computed": summary["computed"],
        "has_data": has_data,
        "kpis": kpis(summary, previous_summary),
        "orders": {k: total.get(k, 0) for k in ("orders", "revenue_orders", "customers", "order_lines", "units")},
        "revenue_by_currency": [{k: i.get(k) for k in ("currency", "orders", "revenue_orders", "revenue", "aov")}
                                for i in _prefixed(orders, "currency#")],
        "revenue_by_channel": [{k: i[k] for k in ("currency", "channel", "orders", "revenue")} for i in today["revenue"]],
        "orders_by_status": {i["status"]: i["orders"] for i in _prefixed(orders, "status#")},
        "revenue_trend": revenue_trend(read, day),
        "new_customers": _new_customers(today["new_customers"]),
        "top_products": [{k: i.get(k) for k in ("rank", "sku", "name", "category", "units", "orders", "revenue")}
                         for i in today["top_products"]],
        "web_events": web,
        "purchases": [{k: i[k] for k in ("currency", "purchases", "amount")} for i in today["purchases"]],
        "errors": [{k: i[k] for k in ("error_type", "events", "users")} for i in today["errors"]],
        "market": _market(today["market_daily"]),
        "quality": quality,
        "quality_score": summary["quality_score"],
        "files": files,
        "stream": stream_vs_batch(stream_counts, web["by_type"], web["from_stream_archive"]),
    }


def _new_customers(items: list[dict]) -> dict:
    by_segment: dict[str, int] = defaultdict(int)
    by_country: dict[str, int] = defaultdict(int)
    for i in items:
        by_segment[i["segment"]] += i["customers"]
        by_country[i["country"]] += i["customers"]

    def ordered(d: dict) -> dict:
        return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"total": sum(by_segment.values()), "by_segment": ordered(by_segment), "by_country": ordered(by_country)}


def stream_vs_batch(stream_counts: dict[str, int] | None, batch_by_type: dict[str, int],
                    archived_by_type: dict[str, int]) -> dict | None:
    """Real-time (hot path) against batch per event type; None when the hot path has nothing that day.

    ``batch`` is every web event loaded for the day (uploads too); the comparison is with
    ``batch_from_stream``, the hot path's own records the batch path loaded from its archive.
    """
    if not stream_counts or not any(stream_counts.values()):
        return None
    types = sorted(set(stream_counts) | set(batch_by_type) | set(archived_by_type))
    rows = [{"event_type": t, "stream": stream_counts.get(t, 0), "batch": batch_by_type.get(t, 0),
             "batch_from_stream": archived_by_type.get(t, 0),
             "difference": stream_counts.get(t, 0) - archived_by_type.get(t, 0)} for t in types]
    return {"by_type": rows, "stream_total": sum(r["stream"] for r in rows),
            "batch_total": sum(r["batch"] for r in rows),
            "batch_from_stream_total": sum(r["batch_from_stream"] for r in rows),
            "matches": all(r["difference"] == 0 for r in rows)}
