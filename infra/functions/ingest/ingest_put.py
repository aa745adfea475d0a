"""Kinesis ``PutRecords`` in chunks of ≤ 500 records / ≤ 5 MiB, retrying only the records that failed.

PutRecords is not all-or-nothing: throttled records come back with an ``ErrorCode`` while the
others are stored. Re-sending only the failed ones (with backoff) never duplicates a stored record;
what still fails after the last attempt is reported per record, so the client can retry just those.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError
from ingest_records import Entry

from pipeline_defs.contracts.stream_records import MAX_PUT_BYTES, MAX_RECORDS_PER_PUT

ATTEMPTS = 4
BASE_DELAY_S = 0.05


def chunks(entries: list[Entry]) -> list[list[Entry]]:
    out: list[list[Entry]] = []
    current: list[Entry] = []
    size = 0
    for entry in entries:
        entry_size = len(entry.data) + len(entry.partition_key.encode())
        if current and (len(current) == MAX_RECORDS_PER_PUT or size + entry_size > MAX_PUT_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        out.append(current)
    return out


def put_all(kinesis, stream: str, entries: list[Entry], sleep: Callable[[float], None] = time.sleep) -> dict[int, str]:
    """Put every entry; returns ``{request index: error code}`` for those that could not be stored."""
    failed: dict[int, str] = {}
    for chunk in chunks(entries):
        pending = chunk
        for attempt in range(ATTEMPTS):
            try:
                response = kinesis.put_records(StreamName=stream, Records=[
                    {"Data": e.data, "PartitionKey": e.partition_key} for e in pending])
            except (ClientError, BotoCoreError) as exc:
                code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
                if attempt == ATTEMPTS - 1:
                    failed.update({e.index: code for e in pending})
                    break
                sleep(BASE_DELAY_S * 2 ** attempt * (1 + random.random()))
                continue
            answers = zip(pending, response["Records"], strict=True)
            retry = [(e, r["ErrorCode"]) for e, r in answers if "ErrorCode" in r]
            if not retry:
                break
            if attempt == ATTEMPTS - 1:
                failed.update({e.index: code for e, code in retry})
                break
            pending = [e for e, _ in retry]
            sleep(BASE_DELAY_S * 2 ** attempt * (1 + random.random()))
    return failed
