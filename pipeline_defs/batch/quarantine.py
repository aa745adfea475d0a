"""Where rejected rows and files go: ``ops.quarantine`` (queryable) and the quarantine bucket.

Rows stream to local spill files while a partition is validated, so a badly broken file costs disk,
not memory. Publishing replaces the partition's previous quarantine, so re-runs never duplicate it.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

WHOLE_FILE_ROW = -1


class QuarantineSink:
    def __init__(self, workdir: Path, dataset: str, partition: date):
        self.dataset, self.partition = dataset, partition
        self.csv_path = workdir / "quarantine.csv"
        self.jsonl_path = workdir / "rejects.jsonl"
        self._csv_file = open(self.csv_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file)
        self._jsonl = open(self.jsonl_path, "w", encoding="utf-8")  # noqa: SIM115
        self.rejected_files: list[tuple[str, str, str | None]] = []  # key, reason, S3 version
        self.count = 0

    def add(self, source_key: str, row: int, reason: str, record: str | None) -> None:
        self._csv.writerow([self.dataset, self.partition.isoformat(), source_key, row, reason, record])
        self._jsonl.write(json.dumps({"source_key": source_key, "row": row, "reason": reason, "record": record}) + "\n")
        self.count += 1

    def reject_file(self, source_key: str, reason: str, version_id: str | None = None) -> None:
        self.rejected_files.append((source_key, reason, version_id))  # the copy is of the version read
        self.add(source_key, WHOLE_FILE_ROW, reason, None)

    def close(self) -> None:
        self._csv_file.close()
        self._jsonl.close()

    # -- publishing ------------------------------------------------------------------------

    def prefix(self) -> str:
        return f"{self.dataset}/dt={self.partition.isoformat()}/"

    def publish_s3(self, s3, raw_bucket: str, quarantine_bucket: str) -> list[str]:
        """Upload the rejects and copies of whole rejected files; delete what a previous run left."""
        written: list[str] = []
        if self.count:
            key = self.prefix() + "rejects.jsonl"
            s3.upload_file(str(self.jsonl_path), quarantine_bucket, key)
            written.append(key)
        for source_key, reason, version_id in self.rejected_files:
            key = self.prefix() + "files/" + source_key.replace("/", "__")
            source = {"Bucket": raw_bucket, "Key": source_key} | ({"VersionId": version_id} if version_id else {})
            try:
                s3.copy_object(Bucket=quarantine_bucket, Key=key, CopySource=source,
                               Metadata={"reason": reason, "source-key": source_key}, MetadataDirective="REPLACE")
                written.append(key)
            except s3.exceptions.ClientError:
                continue  # the object is gone (object_deleted): the reason is recorded in ops.quarantine
        stale = [
            {"Key": obj["Key"]}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=quarantine_bucket, Prefix=self.prefix())
            for obj in page.get("Contents", []) if obj["Key"] not in written
        ]
        if stale:
            s3.delete_objects(Bucket=quarantine_bucket, Delete={"Objects": stale, "Quiet": True})
        return written

    def publish_db(self, cur) -> None:
        """Replace the partition's rows in ops.quarantine (inside the caller's transaction)."""
        cur.execute("DELETE FROM ops.quarantine WHERE dataset = %s AND partition_date = %s",
                    (self.dataset, self.partition))
        with open(self.csv_path, "rb") as source, cur.copy(
            "COPY ops.quarantine (dataset, partition_date, source_key, row_number, reason, record) "
            "FROM STDIN (FORMAT csv)"
        ) as copy:
            while data := source.read(1 << 20):
                copy.write(data)
