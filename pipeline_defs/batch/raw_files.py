"""Which raw objects belong to one dataset-partition.

A file's partition is its ``dt=`` folder, else its upload date (UTC). The listing finds exactly the
keys the upload sensors route (``contracts/routing.route``): folders are matched the way routing
matches them (``CRM/Customers/`` and ``crm_data/`` too), so what a sensor routes is what a run loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pipeline_defs.contracts import Contract, route
from pipeline_defs.contracts.routing import folder_name


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


def stored_prefixes(s3, bucket: str, prefix: str) -> list[str]:
    """The folders in ``bucket`` that routing takes for ``prefix``: ``crm/customers/`` finds
    ``CRM/Customers/`` and ``crm/customers/``; one delimiter listing per folder level."""
    found = [""]
    paginator = s3.get_paginator("list_objects_v2")
    for wanted in prefix.strip("/").split("/"):
        level = []
        for parent in found:
            for page in paginator.paginate(Bucket=bucket, Prefix=parent, Delimiter="/"):
                level += [c["Prefix"] for c in page.get("CommonPrefixes", [])
                          if folder_name(c["Prefix"][len(parent):].rstrip("/")) == folder_name(wanted)]
        found = level
    return sorted(found)


def contract_prefixes(s3, bucket: str, contract: Contract) -> list[str]:
    """Every stored folder any of ``contract``'s prefixes routes from."""
    return sorted({p for prefix in contract.prefixes for p in stored_prefixes(s3, bucket, prefix)})


def list_partition_files(s3, bucket: str, contract: Contract, partition: date) -> list[RawFile]:
    """Every object routed to ``contract`` whose partition is ``partition``, sorted by key."""
    found: dict[str, RawFile] = {}
    paginator = s3.get_paginator("list_object_versions")  # key, ETag and VersionId from one entry
    for prefix in contract_prefixes(s3, bucket, contract):
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
