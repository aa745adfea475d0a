"""The local Kinesis event source mapping: reads the moto stream's shards and invokes the stream
processor the way Lambda's ESM does, so what passes locally behaves the same on AWS.

Honoured (knobs in ``settings.stream``): batch size and batching window; parallelization factor
(a shard's records are split into lanes by partition-key hash, lanes interleave, order is kept per
key only — as on AWS); bisect on function error (halves don't use up retries); partial batch
responses (retry from the lowest reported sequence number; an unknown identifier is a failure);
retry attempts and maximum record age, then the on-failure destination (the stream-failures SQS
queue, AWS's message format plus the exact failed ``records``), which :func:`redrive` replays.
Sequence numbers are compared as integers (moto's are small, AWS's have 56 digits).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError

from pipeline_defs.settings import Settings, StreamSettings

Invoke = Callable[[dict], dict | None]
READ_LIMIT = 1000


@dataclass
class Rec:
    seq: str
    key: str
    data: bytes
    arrival: float

    @property
    def seq_int(self) -> int:
        return int(self.seq)


@dataclass
class Lane:
    records: list[Rec] = field(default_factory=list)
    since: float = 0.0  # when the oldest buffered record was read


@dataclass
class Stats:
    invocations: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    records_delivered: int = 0
    dead_lettered: int = 0


def kinesis_event(records: list[Rec], shard: str, stream_arn: str, region: str) -> dict:
    return {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r.key, "sequenceNumber": r.seq,
                    "data": base64.b64encode(r.data).decode(), "approximateArrivalTimestamp": r.arrival},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{r.seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/local-esm",
        "awsRegion": region, "eventSourceARN": stream_arn} for r in records]}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ShardDelivery:
    """Delivers one lane's batch with Lambda's retry semantics; sends what keeps failing to the DLQ."""

    def __init__(self, config: StreamSettings, invoke: Invoke, dead_letter: Callable[[str, list[Rec], str, int], None],
                 stats: Stats, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        self.config, self.invoke, self.dead_letter, self.stats = config, invoke, dead_letter, stats
        self.sleep, self.clock = sleep, clock

    def deliver(self, shard: str, batch: list[Rec], make_event: Callable[[list[Rec]], dict]) -> None:
        queue: list[tuple[list[Rec], int]] = [(batch, 0)]  # (records, retries used)
        while queue:
            records, retries = queue.pop(0)
            if self.clock() - records[0].arrival > self.config.max_record_age_seconds:
                self.dead_letter(shard, records, "RecordAgeExceeded", retries + 1)
                continue
            self.stats.invocations += 1
            try:
                failed_from = self._failures(records, self.invoke(make_event(records)))
            except Exception as exc:  # a function error: bisect, else retry, else dead-letter
                self.stats.function_errors += 1
                print(f"poller: {shard}: {len(records)} record(s) failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
                if self.config.bisect_on_error and len(records) > 1:
                    half = len(records) // 2
                    queue[:0] = [(records[:half], retries), (records[half:], retries)]
                elif retries < self.config.retry_attempts:
                    self.sleep(min(2.0, 0.1 * 2 ** retries))
                    queue.insert(0, (records, retries + 1))
                else:
                    self.dead_letter(shard, records, "RetryAttemptsExhausted", retries + 1)
                continue
            if failed_from is None:
                self.stats.records_delivered += len(records)
                continue
            self.stats.partial_failures += 1
            done = [r for r in records if r.seq_int < failed_from]
            rest = [r for r in records if r.seq_int >= failed_from]
            self.stats.records_delivered += len(done)
            if retries < self.config.retry_attempts:
                self.sleep(min(2.0, 0.1 * 2 ** retries))
                queue.insert(0, (rest, retries + 1))
            else:
                self.dead_letter(shard, rest, "RetryAttemptsExhausted", retries + 1)

    @staticmethod
    def _failures(records: list[Rec], response) -> int | None:
        """The lowest failed sequence number, None for success; raises for an invalid response."""
        if response is None:
            return None
        if not isinstance(response, dict):
            raise ValueError(f"invalid batch response {response!r}: the whole batch failed")
        failures = response.get("batchItemFailures")
        if not failures:
            return None
        seqs = {r.seq for r in records}
        ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(i not in seqs for i in ids):
            raise ValueError(f"batchItemFailures names unknown records {ids}: the whole batch failed")
        return min(int(i) for i in ids)


class Poller:
    """Polls every shard of the events stream; :meth:`run_once` is one round (used by tests)."""

    def __init__(self, settings: Settings, invoke: Invoke, kinesis, sqs,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        self.settings, self.config = settings, settings.stream
        self.kinesis, self.sqs, self.clock, self.sleep = kinesis, sqs, clock, sleep
        self.stats = Stats()
        self.delivery = ShardDelivery(self.config, invoke, self._dead_letter, self.stats, sleep, clock)
        self.stream = settings.names.events_stream
        self.stream_arn = ""
        self.iterators: dict[str, str | None] = {}
        self.lanes: dict[str, list[Lane]] = {}
        self._dlq_url: str | None = None

    def _discover(self) -> None:
        description = self.kinesis.describe_stream(StreamName=self.stream)["StreamDescription"]
        self.stream_arn = description["StreamARN"]
        for shard in description["Shards"]:
            sid = shard["ShardId"]
            if sid not in self.iterators:
                self.iterators[sid] = self.kinesis.get_shard_iterator(
                    StreamName=self.stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                self.lanes[sid] = [Lane() for _ in range(self.config.parallelization_factor)]

    def _read(self, shard: str) -> int:
        iterator = self.iterators.get(shard)
        if iterator is None:
            return 0
        buffered = sum(len(lane.records) for lane in self.lanes[shard])
        if buffered >= self.config.batch_size * self.config.parallelization_factor * 2:
            return 0
        response = self.kinesis.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
        self.iterators[shard] = response.get("NextShardIterator")
        now = self.clock()
        for record in response.get("Records", []):
            key = record["PartitionKey"]
            lane = self.lanes[shard][zlib.crc32(key.encode()) % self.config.parallelization_factor]
            if not lane.records:
                lane.since = now
            arrival = record["ApproximateArrivalTimestamp"]
            lane.records.append(Rec(record["SequenceNumber"], key, record["Data"],
                                    arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival)))
        return len(response.get("Records", []))

    def run_once(self, flush: bool = False) -> int:
        """Read each shard once and deliver every lane batch that is full (or due, or ``flush``)."""
        if not self.iterators:
            self._discover()
        read = sum(self._read(shard) for shard in list(self.iterators))
        now = self.clock()
        for shard, lanes in self.lanes.items():
            for lane in lanes:
                while lane.records and (flush or len(lane.records) >= self.config.batch_size
                                        or now - lane.since >= self.config.batch_window_seconds):
                    batch, lane.records = lane.records[:self.config.batch_size], lane.records[self.config.batch_size:]
                    lane.since = now
                    self.delivery.deliver(shard, batch, lambda recs, s=shard: kinesis_event(
                        recs, s, self.stream_arn, self.settings.aws_region))
        return read

    def drain(self, max_rounds: int = 1000) -> None:
        """Deliver everything currently in the stream (tests, redrive)."""
        for _ in range(max_rounds):
            if not self.run_once(flush=True) and not any(l.records for ls in self.lanes.values() for l in ls):
                return

    def run(self, stop: threading.Event, heartbeat: Callable[[], None] = lambda: None) -> None:
        while not stop.is_set():
            try:
                read = self.run_once()
            except ClientError as exc:  # the stream is being (re)created: look again shortly
                print(f"poller: {exc}", file=sys.stderr, flush=True)
                self.iterators.clear()
                read = 0
            heartbeat()
            if not read:
                stop.wait(self.config.poll_interval_seconds)

    def _dead_letter(self, shard: str, records: list[Rec], condition: str, invokes: int) -> None:
        if self._dlq_url is None:
            self._dlq_url = self.sqs.get_queue_url(QueueName=self.settings.names.stream_failures_queue)["QueueUrl"]
        self.stats.dead_lettered += len(records)
        message = {
            "requestContext": {"requestId": str(uuid.uuid4()), "condition": condition,
                               "approximateInvokeCount": invokes, "functionArn":
                               f"arn:aws:lambda:{self.settings.aws_region}:000000000000:function:stream_processor"},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0", "timestamp": _iso(self.clock()),
            "KinesisBatchInfo": {"shardId": shard, "startSequenceNumber": records[0].seq,
                                 "endSequenceNumber": records[-1].seq, "batchSize": len(records),
                                 "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                                 "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                                 "streamArn": self.stream_arn},
            "records": [{"sequenceNumber": r.seq, "partitionKey": r.key} for r in records],  # local extension
        }
        self.sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(message))
        print(f"poller: {shard}: {len(records)} record(s) sent to {self.settings.names.stream_failures_queue} "
              f"({condition})", file=sys.stderr, flush=True)


@dataclass
class RedriveReport:
    replayed_messages: int = 0
    replayed_records: int = 0
    left: list[str] = field(default_factory=list)  # why each message stayed in the queue


def read_range(kinesis, stream: str, shard: str, first: str, last: str) -> list[Rec]:
    """The records of ``shard`` from sequence number ``first`` to ``last`` (inclusive), if still retained."""
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=first)["ShardIterator"]
    out: list[Rec] = []
    while iterator:
        response = kinesis.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
        for r in response.get("Records", []):
            if int(r["SequenceNumber"]) > int(last):
                return out
            arrival = r["ApproximateArrivalTimestamp"]
            out.append(Rec(r["SequenceNumber"], r["PartitionKey"], r["Data"],
                           arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival)))
        if not response.get("Records") or not response.get("MillisBehindLatest"):
            return out
        iterator = response.get("NextShardIterator")
    return out


def redrive(settings: Settings, invoke: Invoke, kinesis, sqs, max_messages: int = 1000,
            visibility_timeout: int = 60) -> RedriveReport:
    """Replay the stream-failures queue through the processor; delete each message once it is counted.

    Each message's records are re-read from the stream and delivered again (marked ``redrive`` for
    the logs). The processor's ledger counts exactly the ones no delivery counted yet, so a crash
    mid-redrive, or running redrive twice, counts nothing twice. A message whose records have left
    the stream's retention, or that fails again, stays in the queue with its reason.
    """
    report = RedriveReport()
    url = sqs.get_queue_url(QueueName=settings.names.stream_failures_queue)["QueueUrl"]
    stream_arn = kinesis.describe_stream_summary(StreamName=settings.names.events_stream)[
        "StreamDescriptionSummary"]["StreamARN"]
    seen: set[str] = set()
    while len(seen) < max_messages:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=visibility_timeout).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            why = _redrive_one(settings, invoke, kinesis, stream_arn, message, report)
            if why is None:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                report.left.append(f"{message['MessageId']}: {why}")
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
    return report


def _redrive_one(settings: Settings, invoke: Invoke, kinesis, stream_arn: str, message: dict,
                 report: RedriveReport) -> str | None:
    try:
        body = json.loads(message["Body"])
        info = body["KinesisBatchInfo"]
    except (ValueError, KeyError, TypeError):
        return "not a Kinesis on-failure message"
    records = read_range(kinesis, settings.names.events_stream, info["shardId"],
                         info["startSequenceNumber"], info["endSequenceNumber"])
    wanted = {r["sequenceNumber"] for r in body.get("records") or []}
    if wanted:  # the local poller lists them; AWS gives the range (the ledger skips other lanes' records)
        records = [r for r in records if r.seq in wanted]
    if not records:
        return "its records are no longer in the stream (retention)"
    event = kinesis_event(records, info["shardId"], stream_arn, settings.aws_region)
    event["redrive"] = {"message_id": message["MessageId"]}
    try:
        response = invoke(event)
    except Exception as exc:
        return f"failed again: {type(exc).__name__}: {exc}"
    if (response or {}).get("batchItemFailures"):
        return "failed again (batch item failures)"
    report.replayed_messages += 1
    report.replayed_records += len(records)
    return None


def stream_dlq(action: str, settings: Settings, limit: int = 100, say: Callable[[str], None] = print) -> int:
    """``pipeline dlq list|redrive --queue stream``: the processor runs in this process (its logs go to
    ``.local/logs/redrive.log``), against whatever endpoint the settings name — moto or AWS."""
    import contextlib

    from pipeline_defs.aws import client
    from pipeline_defs.dlq import peek
    from pipeline_defs.local.lambda_runtime import LocalContext, load_function

    queue, sqs = settings.names.stream_failures_queue, client("sqs", settings)
    if action == "list":
        letters = peek(sqs, queue, limit=limit)
        say(f"{len(letters)} message(s) in {queue}")
        for letter in letters:
            info = json.loads(letter.body).get("KinesisBatchInfo", {}) if letter.body.startswith("{") else {}
            say(f"  {letter.message_id}  {info.get('shardId', '?')} {info.get('startSequenceNumber', '?')}.."
                f"{info.get('endSequenceNumber', '?')} ({info.get('batchSize', '?')} records)  {letter.summary}")
        return 0
    log = settings.local_dir / "logs" / "redrive.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as sink, contextlib.redirect_stdout(sink):
        function = load_function("stream_processor")
        report = redrive(settings, lambda event: function.invoke(event, LocalContext("stream_processor")),
                         client("kinesis", settings), sqs, max_messages=limit)
    say(f"replayed {report.replayed_messages} message(s), {report.replayed_records} record(s) from {queue} "
        f"(processor log: {log})")
    for why in report.left:
        say(f"  left in the queue: {why}")
    return 1 if report.left else 0


def main() -> int:
    """``python -m pipeline_defs.local.poller``: poll until SIGTERM; touches a heartbeat file."""
    import signal

    from pipeline_defs.aws import client
    from pipeline_defs.local.lambda_runtime import LocalContext, load_function
    from pipeline_defs.settings import get_settings

    settings = get_settings()
    function = load_function("stream_processor")
    poller = Poller(settings, lambda event: function.invoke(event, LocalContext("stream_processor")),
                    client("kinesis", settings), client("sqs", settings))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    beat = heartbeat_file(settings)
    beat.parent.mkdir(parents=True, exist_ok=True)
    print(f"poller: {settings.names.events_stream} -> stream_processor ({settings.stream})", flush=True)
    try:
        poller.run(stop, heartbeat=beat.touch)
    except KeyboardInterrupt:
        pass
    beat.unlink(missing_ok=True)
    return 0


def heartbeat_file(settings: Settings):
    return settings.local_dir / "run" / "poller.heartbeat"


if __name__ == "__main__":
    sys.exit(main())
