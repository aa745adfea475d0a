"""Apply one batch's effect exactly once: archive → market state → counters + ledger.

Why it is exactly-once: every transaction that adds a batch's counters also writes a *ledger* item
listing the sequence numbers it counted (``pk=ledger#<shard>``, ``sk`` = its last sequence number,
fixed-width). Before counting, one strongly consistent Query reads the ledger items whose range
overlaps this batch and drops the records they list. So a record redelivered — by a retry, a
bisected or partial batch, a crash after any write, or ``pipeline dlq redrive`` — is counted once,
and a record never counted is never skipped. No ordering is assumed: with ``ParallelizationFactor``
2 two concurrent batches interleave a shard's sequence numbers, which would defeat a per-shard
high-water mark. Lambda never runs two deliveries of the same records at once (one batch per shard
lane at a time), so reading before writing is safe; the ledger Put's condition catches the rest.

Cost per 100-record batch: one Query and one ``TransactWriteItems`` (the ledger item + one item
per (day, event type)), instead of a write per event or a checkpoint per key.

The archive object and the market-state items are written first: their keys are deterministic and
their contents the same on every delivery of the same records, so rewriting them is harmless, and a
crash before the transaction leaves nothing half-counted.
"""

from __future__ import annotations

import functools
import gzip
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError
from stream_parse import Parsed

from pipeline_defs.contracts.realtime import (
    TTL_DAYS,
    Aggregate,
    expires_at,
    ledger_key,
    metrics_key,
    number_text,
)
from pipeline_defs.contracts.stream_records import archive_key, padded_seq

MAX_TRANSACT_ITEMS = 100
MAX_LEDGER_SEQS = 1_000  # ~57 KB of sequence numbers: far below DynamoDB's 400 KB item limit
MAX_BATCH_WRITE = 25
ATTEMPTS = 6


@dataclass
class Report:
    archived: list[str] = field(default_factory=list)
    counted: int = 0  # valid records whose counters were written by this delivery
    duplicates: int = 0  # valid records already counted by an earlier delivery
    rejected: int = 0
    ticks_written: int = 0
    ddb_write_calls: int = 0
    ddb_read_calls: int = 0
    s3_puts: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


_NAMES = [f"#a{i}" for i in range(2000)]  # expression placeholders, built once (hot loop)
_VALUES = [f":v{i}" for i in range(2000)]


@functools.lru_cache(maxsize=512)
def _adds(n: int) -> str:
    return ", ".join(f"#a{i} :v{i}" for i in range(n))


def _s(value: str) -> dict:
    return {"S": value}


def _typed(key: dict) -> dict:
    return {k: _s(v) for k, v in key.items()}


class Committer:
    def __init__(self, ddb, s3, realtime_table: str, market_table: str, raw_bucket: str,
                 sleep: Callable[[float], None] = time.sleep):
        self.ddb, self.s3, self.sleep = ddb, s3, sleep
        self.realtime_table, self.market_table, self.raw_bucket = realtime_table, market_table, raw_bucket

    def commit(self, shard: str, records: list[Parsed]) -> Report:
        report = Report()
        if not records:
            return report
        records = sorted(records, key=lambda r: r.seq_int)
        self.archive(shard, records, report)
        valid = [r for r in records if r.valid]
        report.rejected = len(records) - len(valid)
        self.market_state([r for r in valid if r.dataset == "market_ticks"], report)
        if not valid:
            return report
        done = self.counted(shard, valid[0].seq, valid[-1].seq, report)
        fresh = [r for r in valid if r.seq not in done] if done else valid
        report.duplicates = len(valid) - len(fresh)
        for chunk in self.chunks(fresh):
            self.count(shard, chunk, report)
        return report

    # -- 1. archive --------------------------------------------------------------------------

    def archive(self, shard: str, records: list[Parsed], report: Report) -> None:
        groups: dict[tuple[str, str, bool], list[bytes]] = defaultdict(list)
        for r in records:
            groups[(r.dataset, r.day, not r.valid)].append(r.line)
        first, last = records[0].seq, records[-1].seq
        for (dataset, day, rejected), lines in sorted(groups.items()):
            key = archive_key(dataset, day, shard, first, last, rejected)
            body = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1, mtime=0)  # fast; S3-IA is cheap
            self.s3.put_object(Bucket=self.raw_bucket, Key=key, Body=body, ContentType="application/x-ndjson")
            report.s3_puts += 1
            report.archived.append(key)

    # -- 2. market state ---------------------------------------------------------------------

    def market_state(self, ticks: list[Parsed], report: Report) -> None:
        items: dict[tuple[str, str], dict] = {}
        for t in ticks:
            rec = t.record
            item = {"symbol": _s(rec["symbol"]), "ts": _s(rec["ts"]), "price": {"N": number_text(rec["price"])},
                    "day": _s(t.day)}
            if isinstance(rec.get("volume"), (int, float)) and not isinstance(rec.get("volume"), bool):
                item["volume"] = {"N": number_text(rec["volume"])}
            if isinstance(rec.get("exchange"), str):
                item["exchange"] = _s(rec["exchange"])
            items[(rec["symbol"], rec["ts"])] = item  # the same tick twice in a batch: one item
        pending = [{"PutRequest": {"Item": item}} for item in items.values()]
        for start in range(0, len(pending), MAX_BATCH_WRITE):
            requests = pending[start:start + MAX_BATCH_WRITE]
            for attempt in range(ATTEMPTS):
                response = self.ddb.batch_write_item(RequestItems={self.market_table: requests})
                report.ddb_write_calls += 1
                requests = response.get("UnprocessedItems", {}).get(self.market_table, [])
                if not requests:
                    break
                if attempt == ATTEMPTS - 1:
                    raise RuntimeError(f"{len(requests)} market-state writes still unprocessed")
                self._backoff(attempt)
        report.ticks_written += len(items)

    # -- 3. counters + ledger ----------------------------------------------------------------

    def counted(self, shard: str, first: str, last: str, report: Report) -> set[str]:
        """Sequence numbers in [first, last] that an earlier delivery already counted."""
        kwargs = {"TableName": self.realtime_table, "ConsistentRead": True, "ProjectionExpression": "seqs",
                  "KeyConditionExpression": "pk = :pk AND sk >= :first", "FilterExpression": "#first <= :last",
                  "ExpressionAttributeNames": {"#first": "first"},
                  "ExpressionAttributeValues": {":pk": _s(f"ledger#{shard}"), ":first": _s(padded_seq(first)),
                                                ":last": _s(padded_seq(last))}}
        seen: set[str] = set()
        while True:
            page = self.ddb.query(**kwargs)
            report.ddb_read_calls += 1
            for item in page.get("Items", []):
                seen.update(item["seqs"]["S"].split(","))
            if "LastEvaluatedKey" not in page:
                return seen
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def chunks(fresh: list[Parsed]) -> list[list[Parsed]]:
        """Transactions of ≤ 99 counter items (+ the ledger item) and ≤ 1,000 ledger entries."""
        out: list[list[Parsed]] = []
        current: list[Parsed] = []
        kinds: set[tuple[str, str]] = set()
        for r in fresh:
            kind = (r.day, r.kind)
            if current and (len(current) == MAX_LEDGER_SEQS
                            or (kind not in kinds and len(kinds) == MAX_TRANSACT_ITEMS - 1)):
                out.append(current)
                current, kinds = [], set()
            current.append(r)
            kinds.add(kind)
        if current:
            out.append(current)
        return out

    def count(self, shard: str, chunk: list[Parsed], report: Report) -> None:
        items = self._transaction(shard, chunk)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                report.ddb_write_calls += 1
                break
            except ClientError as exc:
                report.ddb_write_calls += 1
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                cancelled = exc.response["Error"]["Code"] == "TransactionCanceledException"
                if not cancelled or "ConditionalCheckFailed" in reasons:
                    raise  # the ledger item exists: another delivery of these records; Lambda retries
                if attempt == ATTEMPTS:
                    raise
                self._backoff(attempt)  # TransactionConflict / throttling: another lane touched a counter
        report.counted += len(chunk)
        for r in chunk:
            report.by_kind[r.kind] += 1

    def _transaction(self, shard: str, chunk: list[Parsed]) -> list[dict]:
        aggregate = Aggregate()
        for r in chunk:
            if r.dataset == "web_events":
                aggregate.add_event(r.day, r.hour, r.kind, r.record)
            else:
                aggregate.add_tick(r.day, r.hour, r.record["symbol"], r.record.get("volume"))
        ttl = {"N": str(int(time.time()) + (TTL_DAYS + 1) * 86_400)}
        items: list[dict] = [{"Put": {
            "TableName": self.realtime_table, "ConditionExpression": "attribute_not_exists(pk)",
            "Item": {**_typed(ledger_key(shard, padded_seq(chunk[-1].seq))), "first": _s(padded_seq(chunk[0].seq)),
                     "seqs": _s(",".join(r.seq for r in chunk)), "expires_at": ttl}}}]
        for (day, kind), counters in aggregate.items.items():
            n = len(counters)
            names = dict(zip(_NAMES[:n], counters, strict=True))
            names["#day"] = "day"
            values = dict(zip(_VALUES[:n], [{"N": number_text(v)} for v in counters.values()], strict=True))
            values.update({":k": _s(kind), ":d": _s(day), ":e": {"N": str(expires_at(day))}})
            items.append({"Update": {
                "TableName": self.realtime_table, "Key": _typed(metrics_key(day, kind)),
                "UpdateExpression": "SET event_type = :k, #day = :d, expires_at = :e ADD " + _adds(n),
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
        return items

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(1.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))
