"""Large results in the query-results bucket, behind presigned URLs and ``GET /download/{key}``.

Objects are written only under ``results/`` with names the API makes (``YYYY-MM-DD-<32 hex>.json``)
and metadata ``created-by: analytics-api``; download accepts nothing else (no other prefix, no
``..``, no object someone else put there). The bucket expires objects after 7 days.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from .errors import NotFound

PREFIX = "results/"
NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-[0-9a-f]{32}\.json$")
CREATED_BY = "analytics-api"
INLINE_MAX_BYTES = 5_000_000  # below Lambda's 6 MB response limit; larger downloads redirect to S3


class Results:
    def __init__(self, s3, bucket: str, url_expiry_seconds: int):
        self.s3, self.bucket, self.expiry = s3, bucket, url_expiry_seconds

    def put(self, body: bytes, operation: str) -> str:
        name = f"{datetime.now(timezone.utc):%Y-%m-%d}-{uuid.uuid4().hex}.json"
        key = PREFIX + name
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                           Metadata={"created-by": CREATED_BY, "operation": operation})
        return key

    def presign(self, key: str) -> str:
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                              ExpiresIn=self.expiry)

    def describe(self, key: str) -> dict:
        return {"largeResult": True, "s3Url": f"s3://{self.bucket}/{key}", "downloadUrl": self.presign(key),
                "downloadPath": f"/download/{key[len(PREFIX):]}", "expiresInSeconds": self.expiry}

    @staticmethod
    def key_for(requested: str) -> str:
        """The object key for a download request, or NotFound for anything the API did not name."""
        name = requested[len(PREFIX):] if requested.startswith(PREFIX) else requested
        if not NAME.fullmatch(name):
            raise NotFound("no such result; results are named like /download/2026-01-31-<32 hex>.json "
                           "and expire after 7 days")
        return PREFIX + name

    def open(self, requested: str) -> tuple[bytes | None, str | None]:
        """(body, None) for a result small enough to return, else (None, presigned URL)."""
        key = self.key_for(requested)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "403"):
                raise NotFound("no such result (it may have expired)") from None
            raise
        if head.get("Metadata", {}).get("created-by") != CREATED_BY:
            raise NotFound("no such result (it may have expired)")
        if head["ContentLength"] > INLINE_MAX_BYTES:
            return None, self.presign(key)
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(), None
