"""moto keeps nothing across restarts, so `pipeline local down` snapshots the AWS side to
``<state>/aws-snapshot/`` and the next `up` restores it into the fresh moto.

Kept: every bucket's current objects (content type and metadata included), every DynamoDB item, the
visible messages of every SQS queue, the secrets. Not kept, and said by `up`: older object versions,
SQS messages in flight at the stop (a run was already requested for them), Kinesis records (the stream
processor had applied them; replaying would count them twice). Without a snapshot, local/lost.py says
what was lost and how to rebuild it. S3 objects are restored before the
upload notifications are wired, so restoring raw uploads does not queue them again.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from pipeline_defs.aws import client
from pipeline_defs.settings import Settings

THREADS = 8


def snapshot_dir(settings: Settings) -> Path:
    return settings.local_dir / "aws-snapshot"


def take(settings: Settings) -> dict:
    """Write the snapshot (atomically: a half-written one never replaces a good one); returns counts."""
    final, work = snapshot_dir(settings), snapshot_dir(settings).with_suffix(".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    s3, ddb, sqs = client("s3", settings), client("dynamodb", settings), client("sqs", settings)
    manifest: dict = {"taken_at": time.time(), "buckets": {}, "tables": [], "queues": {}, "not_kept": {}}
    jobs = []
    for bucket in (b["Name"] for b in s3.list_buckets().get("Buckets", [])):
        versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        manifest["buckets"][bucket] = {"versioned": versioned, "keys": keys}
        (work / "s3" / bucket).mkdir(parents=True)
        jobs += [(bucket, key, work / "s3" / bucket / str(n)) for n, key in enumerate(keys)]

    def save(job) -> dict:
        bucket, key, path = job
        response = s3.get_object(Bucket=bucket, Key=key)
        with open(path, "wb") as out:
            shutil.copyfileobj(response["Body"], out, 1 << 20)
        return {"ContentType": response.get("ContentType") or "binary/octet-stream",
                "Metadata": response.get("Metadata", {})}

    with ThreadPoolExecutor(THREADS) as pool:
        heads = list(pool.map(save, jobs))
    for (bucket, _, path), head in zip(jobs, heads):
        path.with_suffix(".json").write_text(json.dumps(head))
    items = 0
    for table in ddb.list_tables().get("TableNames", []):
        with open(work / f"{table}.dynamodb.jsonl", "w") as out:
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                out.writelines(json.dumps(item) + "\n" for item in page.get("Items", []))
                items += len(page.get("Items", []))
        manifest["tables"].append(table)
    in_flight = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        messages = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            messages += [{"Body": m["Body"], "MessageAttributes": m.get("MessageAttributes", {})} for m in batch]
        manifest["queues"][url.rsplit("/", 1)[-1]] = messages
        in_flight += int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
                         ["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) - len(messages)
    manifest["not_kept"] = {"sqs_in_flight": max(in_flight, 0), "kinesis": "records (already applied)"}
    (work / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    return {**counts(manifest), "items": items}


def counts(manifest: dict) -> dict:
    return {"objects": sum(len(b["keys"]) for b in manifest["buckets"].values()),
            "messages": sum(len(m) for m in manifest["queues"].values())}


def restore_objects(settings: Settings) -> dict | None:
    """Before provisioning: buckets and objects back (no notifications yet). None without a snapshot."""
    folder = snapshot_dir(settings)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    s3 = client("s3", settings)
    jobs = []
    for bucket, spec in manifest["buckets"].items():
        kwargs = {} if settings.aws_region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": settings.aws_region}}
        s3.create_bucket(Bucket=bucket, **kwargs)
        if spec["versioned"]:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        jobs += [(bucket, key, folder / "s3" / bucket / str(n)) for n, key in enumerate(spec["keys"])]

    def load(job) -> None:
        bucket, key, path = job
        head = json.loads(path.with_suffix(".json").read_text())
        with open(path, "rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, **head)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(load, jobs))
    return manifest


def restore_rest(settings: Settings, manifest: dict) -> dict:
    """After provisioning: DynamoDB items and queued messages; the snapshot is then set aside so a
    crash later never restores this (older) state again. Returns what was restored."""
    from pipeline_defs.dynamo import batch_write

    folder, ddb, sqs = snapshot_dir(settings), client("dynamodb", settings), client("sqs", settings)
    items = 0
    for table in manifest["tables"]:
        with open(folder / f"{table}.dynamodb.jsonl") as lines:
            rows = [json.loads(line) for line in lines]
        batch_write(ddb, table, [{"PutRequest": {"Item": row}} for row in rows])
        items += len(rows)
    for name, messages in manifest["queues"].items():
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:  # made later in `up` (e.g. the analytics invalidation queue)
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
        for message in messages:
            sqs.send_message(QueueUrl=url, MessageBody=message["Body"],
                             **({"MessageAttributes": message["MessageAttributes"]} if message["MessageAttributes"] else {}))
    done = folder.with_suffix(".restored")
    shutil.rmtree(done, ignore_errors=True)
    folder.rename(done)
    return {**counts(manifest), "items": items}


def describe_restore(restored: dict, manifest: dict, seconds: float) -> str:
    lost = manifest.get("not_kept", {})
    return (f"aws: restored {restored['objects']} S3 objects, {restored['items']} DynamoDB items and "
            f"{restored['messages']} queued messages from the snapshot of the last `down` in {seconds:.1f}s; "
            f"not kept: older object versions, {lost.get('sqs_in_flight', 0)} SQS message(s) in flight at the stop "
            "(their runs were already requested), Kinesis records (already applied to the real-time tables)")


def restore(settings: Settings, provision: Callable[[], None], say: Callable[[str], None], database_url: str) -> None:
    """Restore around ``provision`` (which wires notifications and creates what is missing); without
    a snapshot, say what was lost if this stack's moto had data (local/lost.py)."""
    from pipeline_defs.local.lost import lost_message, mark_live, marker

    started = time.monotonic()
    manifest = restore_objects(settings)
    provision()
    had_data = marker(settings.local_dir).exists() or snapshot_dir(settings).with_suffix(".restored").exists()
    mark_live(settings.local_dir)
    if manifest is None:
        if had_data:
            say(lost_message(snapshot_dir(settings), database_url))
        return
    restored = restore_rest(settings, manifest)
    say(describe_restore(restored, manifest, time.monotonic() - started))
