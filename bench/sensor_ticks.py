"""Sensor tick benchmark against moto, references measured in the same run.

* S3: a raw bucket of N existing objects (spread over a year of ``dt=`` folders) plus 100 new ones
  today. One ``s3_upload_sensor`` tick (after a first tick has set its cursor) vs
  ``dagster_aws.s3.sensor.get_objects`` listing the whole prefix.
* SQS: 10,000 queued S3 notifications. ``sqs_upload_sensor`` ticks until the queue is drained:
  time per tick (bounded work) and ticks needed.

The bucket is filled through moto's in-process backend (the server runs in this process) because
100,000 PUTs over HTTP would take minutes; every measured call goes over HTTP like production.
Run: `python -m bench.sensor_ticks --objects 100000 --messages 10000`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

NEW_OBJECTS = 100


def _fill_bucket(bucket: str, existing: int, now: datetime) -> None:
    from moto.backends import get_backend

    backend = get_backend("s3")["123456789012"]["aws"]
    body = b'[{"customer_id": "C1"}]'
    datasets = ("crm/customers", "erp/orders", "web/web_events", "market/market_ticks", "catalog/products")
    for n in range(existing):
        day = (now - timedelta(days=30 + n % 335)).date().isoformat()
        backend.put_object(bucket, f"{datasets[n % 5]}/dt={day}/part-{n:07d}.json", body)
    for n in range(NEW_OBJECTS):
        backend.put_object(bucket, f"{datasets[n % 5]}/dt={now.date().isoformat()}/new-{n:04d}.json", body)


def _tick(sensor, cursor, instance):
    from dagster import SensorResult, build_sensor_context

    from pipeline_defs.resources import build_resources
    from pipeline_defs.settings import load_settings

    resources = {k: v for k, v in build_resources(load_settings()).items() if k in ("s3", "sqs", "dynamodb", "sns")}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        started = time.perf_counter()
        result = sensor(context)
        seconds = time.perf_counter() - started
    if not isinstance(result, SensorResult):
        result = SensorResult(skip_reason=result)
    return result, seconds


def bench_s3(existing: int, instance) -> dict:
    import boto3
    from dagster_aws.s3.sensor import get_objects

    from pipeline_defs.settings import load_settings
    from sensors.s3_upload import s3_upload_sensor

    settings = load_settings()
    now = datetime.now(timezone.utc)
    s3 = boto3.client("s3")
    # the S3 sensor is for buckets without notifications; moto would also queue one per object
    s3.put_bucket_notification_configuration(Bucket=settings.names.raw_bucket, NotificationConfiguration={})
    first, _ = _tick(s3_upload_sensor, None, instance)  # an empty bucket: sets the cursor
    _fill_bucket(settings.names.raw_bucket, existing, now)
    result, tick_seconds = _tick(s3_upload_sensor, first.cursor, instance)
    requested = sum(int(r.tags["pipeline/objects"]) for r in result.run_requests)
    started = time.perf_counter()
    listed = get_objects(bucket=settings.names.raw_bucket, prefix="", client=s3)
    full_seconds = time.perf_counter() - started
    print(f"s3 tick {tick_seconds:.2f}s, full listing {full_seconds:.2f}s", file=sys.stderr)
    return {"existing_objects": existing, "new_objects": NEW_OBJECTS, "objects_requested": requested,
            "s3_tick_seconds": round(tick_seconds, 3), "full_listing_seconds": round(full_seconds, 3),
            "full_listing_objects": len(listed), "s3_speedup_vs_full_listing": round(full_seconds / tick_seconds, 1)}


def _enqueue(sqs, url: str, messages: int) -> None:
    for start in range(0, messages, 10):
        entries = []
        for n in range(start, min(start + 10, messages)):
            body = {"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-11-20T10:00:00Z",
                                 "s3": {"object": {"key": f"erp/orders/dt=2026-11-{1 + n % 28:02d}/o-{n}.jsonl",
                                                   "eTag": f"{n:032x}", "size": 10}}}]}
            entries.append({"Id": str(n), "MessageBody": json.dumps(body)})
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _bare_drain(sqs, url: str) -> float:
    """The reference: receive 10 at a time and delete, nothing else."""
    started = time.perf_counter()
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return time.perf_counter() - started
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                         for i, m in enumerate(batch)])


def bench_sqs(messages: int, instance) -> dict:
    import boto3

    from pipeline_defs.settings import load_settings
    from sensors.sqs_upload import sqs_upload_sensor

    settings = load_settings()
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.names.uploads_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    _enqueue(sqs, url, messages)
    bare = _bare_drain(sqs, url)
    _enqueue(sqs, url, messages)
    cursor, ticks, slowest, total, requests = None, 0, 0.0, 0.0, 0
    while True:
        result, seconds = _tick(sqs_upload_sensor, cursor, instance)
        cursor, ticks = result.cursor, ticks + 1
        print(f"sqs tick {ticks}: {seconds:.2f}s, {len(result.run_requests)} run request(s)", file=sys.stderr)
        slowest, total, requests = max(slowest, seconds), total + seconds, requests + len(result.run_requests)
        if not json.loads(cursor)["delete"]:
            break
    return {"queued_notifications": messages, "sqs_ticks_to_drain": ticks, "sqs_slowest_tick_seconds": round(slowest, 3),
            "sqs_total_seconds": round(total, 3), "sqs_run_requests": requests,
            "sqs_bare_receive_delete_seconds": round(bare, 3),
            "sqs_ratio_vs_bare_drain": round(bare / total, 2)}


def _point_at(url: str) -> None:
    from pipeline_defs.local.provision import provision
    from pipeline_defs.settings import get_settings, load_settings

    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    get_settings.cache_clear()
    provision(load_settings())


def run(objects: int, messages: int) -> dict:
    """S3 against an in-process moto (so the bucket can be filled fast); SQS against a moto_server
    process, so moto's own work does not share this process's GIL with the sensor being measured."""
    import logging

    from dagster import DagsterInstance
    from moto.server import ThreadedMotoServer

    from bench.infra import free_port, moto

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    results: dict = {}
    with DagsterInstance.ephemeral() as instance:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            _point_at(f"http://{host}:{port}")
            results.update(bench_s3(objects, instance))
        finally:
            server.stop()
        with moto() as url:
            _point_at(url)
            results.update(bench_sqs(messages, instance))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(run(args.objects, args.messages), indent=2))


if __name__ == "__main__":
    main()
