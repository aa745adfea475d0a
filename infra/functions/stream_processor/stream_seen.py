"""Which records' business keys were already counted, and marking the ones just counted.

A web event's key is its ``event_id`` (``e#<id>`` in ``PIPELINE_SEEN_TABLE``, one item per event,
expiring with its day); a tick's is ``(symbol, ts)``, and its market-state item is its marker. Both are
read with one consistent ``BatchGetItem`` per 100 keys and written with ``BatchWriteItem`` (25 a call)
*after* the counters' transaction — outside it, so moto's transactions (which copy every table they
touch) stay cheap locally; ``stream_commit`` explains why that is still exactly once.
"""

from __future__ import annotations

from typing import Callable

from stream_parse import Parsed

from pipeline_defs.contracts.realtime import expires_at, number_text, seen_key

MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
ATTEMPTS = 6


def _s(value: str) -> dict:
    return {"S": value}


def key(r: Parsed) -> str:
    return seen_key(r.dataset, r.record)


class SeenStore:
    def __init__(self, ddb, seen_table: str, market_table: str, backoff: Callable[[int], None]):
        self.ddb, self.seen_table, self.market_table, self.backoff = ddb, seen_table, market_table, backoff

    def _item_key(self, r: Parsed) -> tuple[str, dict]:
        if r.dataset == "web_events":
            return self.seen_table, {"pk": _s(key(r))}
        return self.market_table, {"symbol": _s(r.record["symbol"]), "ts": _s(r.record["ts"])}

    def seen(self, records: list[Parsed], report) -> set[str]:
        """The business keys among ``records`` that an earlier delivery counted."""
        by_key = {self._item_key(r)[0] + "|" + _flat(self._item_key(r)[1]): key(r) for r in records}
        wanted = [self._item_key(r) for r in records]
        found: set[str] = set()
        for start in range(0, len(wanted), MAX_BATCH_GET):
            request: dict[str, dict] = {}
            for table, item_key in wanted[start:start + MAX_BATCH_GET]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(item_key)
            for attempt in range(ATTEMPTS):
                page = self.ddb.batch_get_item(RequestItems=request)
                report.ddb_read_calls += 1
                for table, items in page.get("Responses", {}).items():
                    names = ("pk",) if table == self.seen_table else ("symbol", "ts")
                    found.update(by_key[table + "|" + _flat({n: item[n] for n in names})] for item in items)
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == ATTEMPTS - 1:
                    raise RuntimeError("seen keys still unprocessed")
                self.backoff(attempt)
        return found

    def mark(self, shard: str, records: list[Parsed], report) -> None:
        """Marks ``records`` counted: their seen item, or for a tick its market-state item."""
        puts: dict[tuple[str, str], dict] = {}
        for r in records:
            table, item_key = self._item_key(r)
            if table == self.seen_table:
                item = {**item_key, "day": _s(r.day), "shard": _s(shard), "seq": _s(r.seq),
                        "expires_at": {"N": str(expires_at(r.day))}}
            else:
                item = _tick_item(r)
                report.ticks_written += 1
            puts[(table, _flat(item_key))] = item
        pending = [(table, {"PutRequest": {"Item": item}}) for (table, _), item in puts.items()]
        for start in range(0, len(pending), MAX_BATCH_WRITE):
            request: dict[str, list] = {}
            for table, put in pending[start:start + MAX_BATCH_WRITE]:
                request.setdefault(table, []).append(put)
            for attempt in range(ATTEMPTS):
                response = self.ddb.batch_write_item(RequestItems=request)
                report.ddb_write_calls += 1
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                if attempt == ATTEMPTS - 1:
                    raise RuntimeError("seen markers still unprocessed")
                self.backoff(attempt)


def _flat(item_key: dict) -> str:
    return "|".join(f"{name}={typed['S']}" for name, typed in sorted(item_key.items()))


def _tick_item(t: Parsed) -> dict:
    rec = t.record
    item = {"symbol": _s(rec["symbol"]), "ts": _s(rec["ts"]), "price": {"N": number_text(rec["price"])},
            "day": _s(t.day)}
    if isinstance(rec.get("volume"), (int, float)) and not isinstance(rec.get("volume"), bool):
        item["volume"] = {"N": number_text(rec["volume"])}
    if isinstance(rec.get("exchange"), str):
        item["exchange"] = _s(rec["exchange"])
    return item
