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
    version_id: str | None = None  # the S3 version listed, read and recorded (None: unversioned bucket)

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
    paginator = s3.get_paginator("list_object_versions")  # key, ETag and VersionId from one entry
    for prefix in contract.prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in _current(page):
                key = obj["Key"]
                routed = route(key)
                if routed is None or routed.dataset != contract.name:
                    continue
                if (routed.partition or obj["LastModified"].date()) != partition:
                    continue
                found[key] = RawFile(key=key, etag=obj["ETag"].strip('"'), size=obj["Size"],
                                     last_modified=obj["LastModified"], version_id=_version(obj))
    return [found[key] for key in sorted(found)]


def _current(page: dict) -> list[dict]:
    """The current version of each object in a ``list_object_versions`` page (deleted keys have none)."""
    return [v for v in page.get("Versions", []) if v.get("IsLatest")]


def _version(obj: dict) -> str | None:
    version = obj.get("VersionId")
    return None if version in (None, "null") else version
