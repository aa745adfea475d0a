"""Which records' business keys were already counted, and marking the ones just counted.

A web event's key is its ``event_id`` (``e#<id>`` in ``PIPELINE_SEEN_TABLE``, one item per event,
expiring with its day); a tick's is ``(symbol, ts)``, and its market-state item is its marker. Both are
read with one consistent ``BatchGetItem`` per 100 keys and written with ``BatchWriteItem`` (25 a call)
*after* the counters' transaction — outside it, so moto's transactions (which copy every table they
touch) stay cheap locally; ``stream_commit`` explains why that is still exactly once.
"""

from __future__ import annotations

from typing import Callable, Iterator

from stream_parse import Parsed

from pipeline_defs.contracts.realtime import expires_at, number_text, seen_key

MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
ATTEMPTS = 6


def _s(value: str) -> dict:
    return {"S": value}


def until_processed(call: Callable[..., dict], request: dict, backoff: Callable[[int], None],
                    what: str) -> Iterator[dict]:
    """``call(RequestItems=request)`` (BatchGetItem / BatchWriteItem), then again with what DynamoDB left
    unprocessed, with ``backoff``, at most :data:`ATTEMPTS` times; yields each response."""
    for attempt in range(ATTEMPTS):
        response = call(RequestItems=request)
        yield response
        request = response.get("UnprocessedKeys") or response.get("UnprocessedItems") or {}
        if not request:
            return
        if attempt < ATTEMPTS - 1:
            backoff(attempt)
    raise RuntimeError(f"{what} still unprocessed")


class SeenStore:
    def __init__(self, ddb, seen_table: str, market_table: str, backoff: Callable[[int], None]):
        self.ddb, self.seen_table, self.market_table, self.backoff = ddb, seen_table, market_table, backoff

    def seen(self, keyed: list[tuple[Parsed, str]], report) -> set[str]:
        """The business keys among ``keyed`` ((record, key) pairs) that an earlier delivery counted."""
        found: set[str] = set()
        for start in range(0, len(keyed), MAX_BATCH_GET):
            request: dict[str, dict] = {}
            for r, k in keyed[start:start + MAX_BATCH_GET]:
                if r.dataset == "web_events":
                    table, item_key = self.seen_table, {"pk": _s(k)}
                else:
                    table, item_key = self.market_table, {"symbol": _s(r.record["symbol"]), "ts": _s(r.record["ts"])}
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(item_key)
            for page in until_processed(self.ddb.batch_get_item, request, self.backoff, "seen keys"):
                report.ddb_read_calls += 1
                responses = page.get("Responses", {})
                found.update(item["pk"]["S"] for item in responses.get(self.seen_table, []))
                found.update(seen_key("market_ticks", {"symbol": item["symbol"]["S"], "ts": item["ts"]["S"]})
                             for item in responses.get(self.market_table, []))
        return found

    def mark(self, shard: str, keyed: list[tuple[Parsed, str]], report) -> None:
        """Marks the records counted: their seen item, or for a tick its market-state item."""
        puts: dict[str, tuple[str, dict]] = {}
        for r, k in keyed:
            if r.dataset == "web_events":
                puts[k] = (self.seen_table, {"pk": _s(k), "day": _s(r.day), "shard": _s(shard), "seq": _s(r.seq),
                                             "expires_at": {"N": str(expires_at(r.day))}})
            else:
                puts[k] = (self.market_table, _tick_item(r))
        report.ticks_written += sum(1 for table, _ in puts.values() if table == self.market_table)
        pending = [(table, {"PutRequest": {"Item": item}}) for table, item in puts.values()]
        for start in range(0, len(pending), MAX_BATCH_WRITE):
            request: dict[str, list] = {}
            for table, put in pending[start:start + MAX_BATCH_WRITE]:
                request.setdefault(table, []).append(put)
            for _ in until_processed(self.ddb.batch_write_item, request, self.backoff, "seen markers"):
                report.ddb_write_calls += 1


def _tick_item(t: Parsed) -> dict:
    rec = t.record
    item = {"symbol": _s(rec["symbol"]), "ts": _s(rec["ts"]), "price": {"N": number_text(rec["price"])},
            "day": _s(t.day)}
    if isinstance(rec.get("volume"), (int, float)) and not isinstance(rec.get("volume"), bool):
        item["volume"] = {"N": number_text(rec["volume"])}
    if isinstance(rec.get("exchange"), str):
        item["exchange"] = _s(rec["exchange"])
    return item
