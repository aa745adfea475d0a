"""Apply one batch's effect exactly once per business key: archive → counters + ledger → seen marks.

Records are counted once per *business key* — a web event's ``event_id`` (derived from the record
when the client sent none), a tick's ``(symbol, ts)`` — whatever delivers them again: Lambda's
retry, a bisected or partial batch, a crash after any write, ``pipeline dlq redrive``, or a client
re-sending the same events (new Kinesis records, new sequence numbers). Per batch:

1. the archive object (deterministic key, same bytes on every delivery: rewriting it is harmless);
2. one strongly consistent Query of the *ledger* (``pk=ledger#<shard>``): the sequence numbers an
   earlier delivery of these very records counted;
3. one consistent ``BatchGetItem`` of the business keys already marked counted (``stream_seen``);
   a key twice in the batch counts once (the lowest sequence number);
4. one consistent ``BatchGetItem`` of the day's metrics items, to keep their dimensions bounded
   (``contracts.realtime.bounded``);
5. one ``TransactWriteItems``: every counter ``ADD`` plus the ledger item listing the sequence
   numbers it counted — atomic, so a crash leaves a record either counted and in the ledger, or not;
6. ``BatchWriteItem`` of the seen marks (25 a call) of the records counted now *and* of those the
   ledger says were counted before (step 2), so a crash between 5 and 6 is repaired by the retry.

Why a crash between 5 and 6 cannot double a client's re-send: a re-sent event has the same user id
(ticks: symbol), so the same partition key, shard and lane; Lambda retries the crashed batch — which
writes the missing marks — before it delivers anything later in that lane. What is not covered: two
deliveries of one key *at the same time*, which needs a redrive racing a client re-send of the same
event (the README says so). Cost: 8 DynamoDB calls for 100 new events (2 Query/BatchGet reads of
state, 1 BatchGet of metrics items, 1 transaction, 4 BatchWriteItem of marks).

A metrics item that would outgrow DynamoDB's 400 KB (``ValidationException``/``ValidationError``
"Item size …") is retried once with no new dimension values, then alone; if it still fails, its
records are rejected from the real-time counts with ``too_large:realtime_item`` (logged, metric),
never retried in a loop: the rest of the batch is counted and the archive has them all.
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
from stream_seen import ATTEMPTS, MAX_BATCH_GET, SeenStore, until_processed

from pipeline_defs.contracts.realtime import (
    MAX_DIMENSION_VALUES,
    TTL_DAYS,
    Aggregate,
    bounded,
    expires_at,
    ledger_key,
    metrics_key,
    number_text,
    seen_key,
)
from pipeline_defs.contracts.stream_records import archive_key, padded_seq

MAX_TRANSACT_ITEMS = 100
MAX_LEDGER_SEQS = 1_000  # ~57 KB of sequence numbers: far below DynamoDB's 400 KB item limit
TOO_LARGE = "too_large:realtime_item"


@dataclass
class Report:
    archived: list[str] = field(default_factory=list)
    counted: int = 0  # valid records whose counters were written by this delivery
    duplicates: int = 0  # valid records whose business key was already counted (or twice in the batch)
    rejected: int = 0
    realtime_rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # reason → records
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


def _typed(key_: dict) -> dict:
    return {k: _s(v) for k, v in key_.items()}


class ItemTooLarge(Exception):
    """A metrics item would exceed DynamoDB's item size."""


def too_large(exc: ClientError) -> bool:
    """DynamoDB's item-size refusal: ``ValidationException`` (moto, single writes) or a transaction
    cancelled with ``ValidationError`` (AWS)."""
    error = exc.response.get("Error", {})
    texts = [error.get("Message", "")] if error.get("Code") == "ValidationException" else []
    texts += [r.get("Message") or "" for r in exc.response.get("CancellationReasons", [])
              if r.get("Code") == "ValidationError"]
    return any("item size" in text.lower() for text in texts)


class Committer:
    def __init__(self, ddb, s3, realtime_table: str, market_table: str, seen_table: str, raw_bucket: str,
                 sleep: Callable[[float], None] = time.sleep):
        self.ddb, self.s3, self.sleep = ddb, s3, sleep
        self.realtime_table, self.raw_bucket = realtime_table, raw_bucket
        self.seen_store = SeenStore(ddb, seen_table, market_table, self._backoff)

    def commit(self, shard: str, records: list[Parsed]) -> Report:
        report = Report()
        if not records:
            return report
        records = sorted(records, key=lambda r: r.seq_int)
        self.archive(shard, records, report)
        valid = [r for r in records if r.valid]
        report.rejected = len(records) - len(valid)
        if not valid:
            return report
        done = self.counted(shard, valid[0].seq, valid[-1].seq, report)
        keyed = [(r, seen_key(r.dataset, r.record)) for r in valid]
        again = [(r, k) for r, k in keyed if r.seq in done]  # counted by an earlier delivery of these records
        taken = {k for _, k in again}
        candidates: list[tuple[Parsed, str]] = []
        for r, k in keyed:
            if r.seq not in done and k not in taken:
                taken.add(k)
                candidates.append((r, k))
        seen = self.seen_store.seen(candidates, report) if candidates else set()
        fresh = [(r, k) for r, k in candidates if k not in seen]
        report.duplicates = len(valid) - len(fresh)
        records_fresh = [r for r, _ in fresh]
        names = self.item_names(records_fresh, report)
        counted: set[str] = set()
        for chunk in self.chunks(records_fresh):
            counted.update(r.seq for r in self.count(shard, chunk, names, report))
        self.seen_store.mark(shard, again + [(r, k) for r, k in fresh if r.seq in counted], report)
        return report

    # -- 1. archive --------------------------------------------------------------------------

    def archive(self, shard: str, records: list[Parsed], report: Report) -> None:
        groups: dict[tuple[str, str, bool], list[bytes]] = defaultdict(list)
        for r in records:
            groups[(r.dataset, r.day, not r.valid)].append(r.line)
        first, last = records[0].seq, records[-1].seq
        for (dataset, day, rejected), lines in sorted(groups.items()):
            key_ = archive_key(dataset, day, shard, first, last, rejected)
            body = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1, mtime=0)  # fast; S3-IA is cheap
            self.s3.put_object(Bucket=self.raw_bucket, Key=key_, Body=body, ContentType="application/x-ndjson")
            report.s3_puts += 1
            report.archived.append(key_)

    # -- 2. ledger ---------------------------------------------------------------------------

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

    # -- 4. metrics items' attribute names ---------------------------------------------------

    def item_names(self, fresh: list[Parsed], report: Report) -> dict[tuple[str, str], set[str]]:
        """The attribute names of each metrics item the batch adds to (absent items: none)."""
        wanted = sorted({(r.day, r.kind) for r in fresh})
        names: dict[tuple[str, str], set[str]] = {k: set() for k in wanted}
        for start in range(0, len(wanted), MAX_BATCH_GET):
            request = {self.realtime_table: {"ConsistentRead": True, "Keys": [
                _typed(metrics_key(day, kind)) for day, kind in wanted[start:start + MAX_BATCH_GET]]}}
            for page in until_processed(self.ddb.batch_get_item, request, self._backoff, "metrics items"):
                report.ddb_read_calls += 1
                for item in page.get("Responses", {}).get(self.realtime_table, []):
                    day_kind = item["sk"]["S"].split("#", 1)
                    names[(day_kind[0], day_kind[1])] = set(item)
        return names

    # -- 5. counters + ledger ----------------------------------------------------------------

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

    def count(self, shard: str, chunk: list[Parsed], names: dict, report: Report) -> list[Parsed]:
        """Counts ``chunk`` in one transaction; returns the records counted (all but item-size rejects)."""
        try:
            self._count(shard, chunk, names, MAX_DIMENSION_VALUES, report)
            return chunk
        except ItemTooLarge:
            pass
        try:  # no new dimension values: an item near the limit grows by a few bytes at most
            self._count(shard, chunk, names, 0, report)
            return chunk
        except ItemTooLarge:
            pass
        by_item: dict[tuple[str, str], list[Parsed]] = defaultdict(list)
        for r in chunk:
            by_item[(r.day, r.kind)].append(r)
        counted: list[Parsed] = []
        for records in by_item.values():  # alone, so one oversized item takes no other records with it
            try:
                self._count(shard, records, names, 0, report)
                counted += records
            except ItemTooLarge:
                report.realtime_rejected[TOO_LARGE] += len(records)
        return counted

    def _count(self, shard: str, chunk: list[Parsed], names: dict, room: int, report: Report) -> None:
        items, written = self._transaction(shard, chunk, names, room)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                report.ddb_write_calls += 1
                break
            except ClientError as exc:
                report.ddb_write_calls += 1
                if too_large(exc):
                    raise ItemTooLarge() from exc
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                cancelled = exc.response["Error"]["Code"] == "TransactionCanceledException"
                if not cancelled or "ConditionalCheckFailed" in reasons:
                    raise  # the ledger item exists: another delivery of these records; Lambda retries
                if attempt == ATTEMPTS:
                    raise
                self._backoff(attempt)  # TransactionConflict / throttling: another lane touched a counter
        for item_key, added in written.items():
            names[item_key] |= added
        report.counted += len(chunk)
        for r in chunk:
            report.by_kind[r.kind] += 1

    def _transaction(self, shard: str, chunk: list[Parsed], names: dict, room: int) -> tuple[list[dict], dict]:
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
        written: dict[tuple[str, str], set[str]] = {}
        for (day, kind), raw in aggregate.items.items():
            counters = bounded(raw, names.get((day, kind), ()), room)
            written[(day, kind)] = set(counters)
            n = len(counters)
            attribute_names = dict(zip(_NAMES[:n], counters, strict=True))
            attribute_names["#day"] = "day"
            values = dict(zip(_VALUES[:n], [{"N": number_text(v)} for v in counters.values()], strict=True))
            values.update({":k": _s(kind), ":d": _s(day), ":e": {"N": str(expires_at(day))}})
            items.append({"Update": {
                "TableName": self.realtime_table, "Key": _typed(metrics_key(day, kind)),
                "UpdateExpression": "SET event_type = :k, #day = :d, expires_at = :e ADD " + _adds(n),
                "ExpressionAttributeNames": attribute_names, "ExpressionAttributeValues": values}})
        return items, written

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(1.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))
