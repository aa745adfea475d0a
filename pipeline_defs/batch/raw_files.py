"""Which raw objects belong to one dataset-partition.

A file's partition is its ``dt=`` folder, else its upload date (UTC), per DESIGN.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pipeline_defs.contracts import Contract, route


@dataclass(frozen=True)
class RawFile:
    key: str
    etag: str
    size: int
    last_modified: datetime

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def partition_of(key: str, last_modified: datetime) -> date | None:
    """The business date of an object, or None when no contract claims it."""
    routed = route(key)
    if routed is None:
        return None
    return routed.partition or last_modified.date()


def list_partition_files(s3, bucket: str, contract: Contract, partition: date) -> list[RawFile]:
    """Every object of ``contract``'s prefixes whose partition is ``partition``, sorted by key."""
    found: dict[str, RawFile] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in contract.prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                routed = route(key)
                if routed is None or routed.dataset != contract.name:
                    continue
                if (routed.partition or obj["LastModified"].date()) != partition:
                    continue
                found[key] = RawFile(key=key, etag=obj["ETag"].strip('"'), size=obj["Size"],
                                     last_modified=obj["LastModified"])
    return [found[key] for key in sorted(found)]
