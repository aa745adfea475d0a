"""``GET /metrics/realtime?date=YYYY-MM-DD``: one Query for the day's metrics items, one small Query
per symbol for its latest tick as of that day, shaped by the shared :func:`realtime.summarise`."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from pipeline_defs.contracts.realtime import day_items, plain, summarise
from pipeline_defs.contracts.stream_records import MARKET_KIND

MAX_SYMBOLS = 50  # latest-tick look-ups per answer; the busiest symbols first


def parse_day(value: str | None, today: dt.date | None = None) -> str:
    """The requested day (default: today, UTC); raises ValueError with a readable message."""
    if not value:
        return (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"date={value!r} is not a date; use YYYY-MM-DD") from None


def latest_tick(ddb, table: str, symbol: str, day: str) -> dict | None:
    before = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    page = ddb.query(TableName=table, KeyConditionExpression="symbol = :s AND ts < :t",
                     ExpressionAttributeValues={":s": {"S": symbol}, ":t": {"S": before}},
                     ScanIndexForward=False, Limit=1)
    items = page.get("Items", [])
    if not items:
        return None
    item = plain(items[0])
    return {k: item[k] for k in ("ts", "price", "volume", "exchange") if k in item}


def realtime_metrics(ddb, realtime_table: str, market_table: str, day: str) -> dict:
    items = day_items(ddb, realtime_table, day)
    market = next((i for i in items if i.get("event_type") == MARKET_KIND), {})
    symbols = sorted((k[4:] for k in market if k.startswith("sym#")), key=lambda s: -market[f"sym#{s}"])
    shown = symbols[:MAX_SYMBOLS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        latest = dict(zip(shown, pool.map(lambda s: latest_tick(ddb, market_table, s, day), shown), strict=True))
    answer = summarise(day, items, latest)
    if len(symbols) > len(shown):
        answer["market"]["symbols_truncated"] = len(symbols) - len(shown)
    return answer
