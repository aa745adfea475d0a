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
    def parquet_rows(self, table: str, day: date) -> int | None:
        bucket = self.config.processed_bucket
        keys = [obj["Key"]
                for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=f"{table}/dt={day.isoformat()}/")
                for obj in page.get("Contents", []) if obj["Key"].endswith(".parquet")]
        return sum(rows_in_object(self.s3, bucket, key) for key in keys) if keys else None

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
    with ThreadPoolExecutor(max_workers=8) as pool:
        parquet = dict(zip(jobs, pool.map(lambda j: _safe(readers.parquet_rows, tables[j[1]], j[0]), jobs)))
        state = dict(zip(jobs, pool.map(lambda j: _safe(readers.state_rows, j[1], j[0]), jobs)))
        aggregates = dict(zip(days, pool.map(lambda d: _safe(readers.aggregate_rows, d), days)))
        realtime = dict(zip(days, pool.map(lambda d: _safe(readers.realtime_rows, d), days)))
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
        batch = {v for k, v in counts.items() if v is not None and k != "realtime"}
        stream = counts["realtime"]
        rows.append({"dataset": dataset, "date": day.isoformat(), **counts, "batch_consistent": len(batch) <= 1,
                     "stream_matches_batch": None if stream is None else stream == counts["load_audit"]})
    return {"rows": rows, "unavailable": unavailable}
