"""The query cache in DynamoDB, invalidated by data versions.

Table ``pipeline-query-cache`` (key ``pk``, TTL ``expires_at``) holds two kinds of items:

* ``pk=meta#data-versions``: one number attribute per dataset, incremented by each
  ``PartitionLoaded`` event for that dataset (:meth:`Cache.bump`). It never expires.
* ``pk=q#<sha256 of operation + normalised parameters>``: a cached answer with the versions of the
  datasets it read when it was computed, either the answer itself (zlib JSON) or the S3 key of a
  large one. It is served only while every one of those versions is still current and it has not
  expired, so a load invalidates exactly the operations that read the loaded dataset, at once.

One consistent BatchGetItem reads both items per request. Versions are read before the query runs,
so an answer computed while a load lands is stored under the old version and never served.
The cache is an optimisation: when DynamoDB fails, answers are computed and not cached.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import dataclass

VERSIONS_PK = "meta#data-versions"


@dataclass(frozen=True)
class Entry:
    body: bytes | None  # the answer's JSON (cached=false form), or None for a large result
    s3_key: str | None
    created_at: int


def cache_key(operation: str, params: dict) -> str:
    canonical = json.dumps({"operation": operation, "parameters": params}, sort_keys=True, separators=(",", ":"))
    return "q#" + hashlib.sha256(canonical.encode()).hexdigest()


class Cache:
    def __init__(self, ddb, table: str, ttl_seconds: int):
        self.ddb, self.table, self.ttl = ddb, table, ttl_seconds

    def lookup(self, key: str, datasets: tuple[str, ...]) -> tuple[Entry | None, dict[str, int]]:
        """The valid entry for ``key`` (or None) and the current versions of ``datasets``."""
        keys = [{"pk": {"S": VERSIONS_PK}}, {"pk": {"S": key}}]
        found = self.ddb.batch_get_item(RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}})
        if found.get("UnprocessedKeys"):
            raise RuntimeError("cache read throttled")
        items = {i["pk"]["S"]: i for i in found.get("Responses", {}).get(self.table, [])}
        meta = items.get(VERSIONS_PK, {})
        versions = {d: int(meta.get(d, {}).get("N", "0")) for d in datasets}
        item = items.get(key)
        if item is None or int(item["expires_at"]["N"]) <= time.time():
            return None, versions
        stored = {d: int(v["N"]) for d, v in item.get("versions", {}).get("M", {}).items()}
        if stored != versions:
            return None, versions
        body = zlib.decompress(item["body"]["B"]) if "body" in item else None
        return Entry(body, item.get("s3_key", {}).get("S"), int(item["created_at"]["N"])), versions

    def store(self, key: str, operation: str, versions: dict[str, int], *, body: bytes | None = None,
              s3_key: str | None = None) -> None:
        now = int(time.time())
        item = {
            "pk": {"S": key}, "operation": {"S": operation}, "created_at": {"N": str(now)},
            "expires_at": {"N": str(now + self.ttl)},
            "versions": {"M": {d: {"N": str(v)} for d, v in versions.items()}},
        }
        if body is not None:
            item["body"] = {"B": zlib.compress(body, 6)}
        if s3_key is not None:
            item["s3_key"] = {"S": s3_key}
        self.ddb.put_item(TableName=self.table, Item=item)

    def bump(self, dataset: str) -> int:
        """Make every cached answer that read ``dataset`` stale; returns the dataset's new version."""
        updated = self.ddb.update_item(
            TableName=self.table, Key={"pk": {"S": VERSIONS_PK}},
            UpdateExpression="ADD #d :one SET updated_at = :now",
            ExpressionAttributeNames={"#d": dataset},
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(int(time.time()))}},
            ReturnValues="UPDATED_NEW")
        return int(updated["Attributes"][dataset]["N"])
