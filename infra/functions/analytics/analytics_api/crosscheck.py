"""Cross-system counts: what the warehouse holds against the Parquet lake, the processing state,
the DynamoDB aggregates and the real-time metrics, per dataset and day.

Each outside source is read with the key layout its owner documents (pipeline_defs/state.py,
pipeline_defs/aggregates, pipeline_defs/contracts/realtime.py). A source that cannot be read (no
table, no permission) is reported as unavailable with the reason, never as a failure of the answer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from botocore.exceptions import BotoCoreError, ClientError

from .config import Config
from .parquet_footer import FooterError, rows_in_object

WEB_EVENT_KINDS = ("page_view", "purchase", "user_signup", "click", "error")
REALTIME_KINDS = {"web_events": WEB_EVENT_KINDS, "market_ticks": ("market_tick",)}


class SourceUnavailable(Exception):
    pass


def _guard(fn):
    def wrapped(*args):
        try:
            return fn(*args)
        except ClientError as exc:
            raise SourceUnavailable(exc.response.get("Error", {}).get("Code", "ClientError")) from exc
        except (BotoCoreError, FooterError) as exc:
            raise SourceUnavailable(type(exc).__name__) from exc
    return wrapped


class AwsReaders:
    def __init__(self, config: Config, s3, ddb):
        self.config, self.s3, self.ddb = config, s3, ddb

    @_guard
    def parquet_keys(self, table: str, first: date, last: date) -> dict[date, list[str]]:
        """The Parquet objects of ``<table>/dt=<day>/`` per day from first to last: one listing from
        the first day's folder on, stopped past the last (keys come in order), not one per day."""
        found: dict[date, list[str]] = {}
        prefix = f"{table}/dt="
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.config.processed_bucket, Prefix=prefix, StartAfter=f"{prefix}{first.isoformat()}"):
            for obj in page.get("Contents", []):
                folder, _, _ = obj["Key"][len(prefix):].partition("/")
                try:
                    day = date.fromisoformat(folder)
                except ValueError:
                    continue  # not a partition folder
                if day > last:
                    return found
                if obj["Key"].endswith(".parquet"):
                    found.setdefault(day, []).append(obj["Key"])
        return found

    @_guard
    def parquet_rows(self, key: str) -> int:
        return rows_in_object(self.s3, self.config.processed_bucket, key)

    def _query(self, table: str, **kwargs) -> list[dict]:
        items, start = [], {}
        while True:
            page = self.ddb.query(TableName=table, **kwargs, **start)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    @_guard
    def state_rows(self, dataset: str, day: date) -> int | None:
        items = self._query(self.config.state_table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :pk",
                            ExpressionAttributeValues={":pk": {"S": f"files#{dataset}#{day.isoformat()}"}})
        return sum(int(i.get("rows_loaded", {}).get("N", "0")) for i in items) if items else None

    @_guard
    def aggregate_rows(self, day: date) -> dict[str, int]:
        """rows_loaded per dataset from the day's ``data_quality`` aggregate."""
        items = self._query(self.config.aggregates_table, KeyConditionExpression="pk = :pk",
                            ExpressionAttributeValues={":pk": {"S": f"data_quality#{day.isoformat()}"}})
        return {i["sk"]["S"]: int(float(i["rows_loaded"]["N"])) for i in items if "rows_loaded" in i}

    @_guard
    def realtime_rows(self, day: date) -> dict[str, int]:
        """Events counted by the hot path for the day, per dataset."""
        items = self._query(self.config.realtime_table, KeyConditionExpression="pk = :pk",
                            ExpressionAttributeValues={":pk": {"S": f"metrics#{day.isoformat()}"}})
        counts = {i.get("event_type", {}).get("S"): int(float(i.get("n", {}).get("N", "0"))) for i in items}
        return {dataset: sum(counts[k] for k in kinds if k in counts)
                for dataset, kinds in REALTIME_KINDS.items() if any(k in counts for k in kinds)}


def _safe(fn, *args):
    try:
        return fn(*args), None
    except SourceUnavailable as exc:
        return None, str(exc)


def cross_system(readers: AwsReaders, warehouse: dict, audit: dict, tables: dict[str, str], days: list[date]) -> dict:
    """One row per dataset and day; ``warehouse``/``audit`` map (dataset, day) → rows already counted in SQL.

    ``tables`` maps dataset → its main warehouse table (its Parquet folder too).
    """
    unavailable: dict[str, str] = {}
    jobs = [(d, ds) for d in days for ds in tables]
    with ThreadPoolExecutor(max_workers=8) as pool:  # every read submitted at once; listings first
        listing = {ds: pool.submit(_safe, readers.parquet_keys, tables[ds], days[0], days[-1]) for ds in tables}
        state_reads = {job: pool.submit(_safe, readers.state_rows, job[1], job[0]) for job in jobs}
        aggregate_reads = {day: pool.submit(_safe, readers.aggregate_rows, day) for day in days}
        realtime_reads = {day: pool.submit(_safe, readers.realtime_rows, day) for day in days}
        listed = {ds: future.result() for ds, future in listing.items()}
        footers = {(ds, day, key): pool.submit(_safe, readers.parquet_rows, key)
                   for ds, (keys, _) in listed.items() for day, day_keys in (keys or {}).items() for key in day_keys}
        state = {job: future.result() for job, future in state_reads.items()}
        aggregates = {day: future.result() for day, future in aggregate_reads.items()}
        realtime = {day: future.result() for day, future in realtime_reads.items()}
        counted = {obj: future.result() for obj, future in footers.items()}
    # a day's Parquet rows: the sum of its objects' footers; unknown when its listing or a footer failed
    parquet = {(day, ds): (None, listed[ds][1]) for day, ds in jobs}
    for (dataset, day, _), (count, error) in counted.items():
        total, failed = parquet[(day, dataset)]
        parquet[(day, dataset)] = (None, failed or error) if failed or error else ((total or 0) + count, None)
    rows = []
    for day, dataset in sorted(jobs):
        for name, (value, error) in (("parquet", parquet[(day, dataset)]), ("processing_state", state[(day, dataset)]),
                                     ("aggregates", aggregates[day]), ("realtime", realtime[day])):
            if error:
                unavailable[name] = error
        counts = {
            "warehouse": warehouse.get((dataset, day)),
            "load_audit": audit.get((dataset, day)),
            "parquet": parquet[(day, dataset)][0],
            "processing_state": state[(day, dataset)][0],
            "aggregates": (aggregates[day][0] or {}).get(dataset),
            "realtime": (realtime[day][0] or {}).get(dataset) if dataset in REALTIME_KINDS else None,
        }
        if all(v is None for v in counts.values()):
            continue
        # the lake holds what the warehouse holds for the day; the audit, state and aggregates count the
        # rows the day's files offered (some may have lost to a newer version, or moved to a later day)
        stored = {counts[k] for k in ("warehouse", "parquet") if counts[k] is not None}
        offered = {counts[k] for k in ("load_audit", "processing_state", "aggregates") if counts[k] is not None}
        stream = counts["realtime"]
        rows.append({"dataset": dataset, "date": day.isoformat(), **counts,
                     "batch_consistent": len(stored) <= 1 and len(offered) <= 1,
                     "stream_matches_batch": None if stream is None else stream == counts["load_audit"]})
    return {"rows": rows, "unavailable": unavailable}
