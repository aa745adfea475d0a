"""``s3_upload_sensor``: for deployments without S3 notifications — polls the raw bucket cheaply.

It never lists the whole bucket: per contract prefix it lists the ``dt=`` folders of the last
``PIPELINE_S3_SENSOR_LOOKBACK_DAYS`` days (and tomorrow) plus the files directly in the dataset
folder (undated uploads). The cursor keeps a last-modified watermark and the versions (etag and
LastModified) seen near it, so a re-uploaded key — even with the same bytes — is new again while an
unchanged one is not. Uploads into older ``dt=`` folders are the SQS sensor's job (or a backfill's).
"""


import json
from datetime import datetime, timedelta, timezone

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster_aws.s3 import S3Resource

from pipeline_defs.batch.raw_files import contract_prefixes
from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.jobs import load_jobs
from pipeline_defs.settings import get_settings
from pipeline_defs.state import get_states, put_states
from pipeline_defs.uploads import Plan, S3Object, add_object, finish
from resources.aws import DynamoDBResource, SNSResource
from sensors.run_requests import partition_window, plan_run_requests
from sensors.unroutable import quarantine_rejected

CLOCK_SKEW = timedelta(minutes=5)  # objects this close to the watermark are re-checked by etag


def recent_folders(s3, bucket: str, prefix: str, days: set[str]) -> tuple[list[dict], list[str]]:
    """One delimiter listing of a dataset folder: its own files, and its dt= folders within ``days``."""
    files, folders = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        files += page.get("Contents", [])
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]
            if folder[len(prefix):].removeprefix("dt=").rstrip("/") in days:
                folders.append(folder)
    return files, folders


def list_recent(s3, bucket: str, now: datetime, lookback_days: int) -> list[tuple[S3Object, datetime]]:
    """Objects directly in each dataset folder and in its recent dt= folders — never the whole bucket."""
    days = {(now - timedelta(days=n)).date().isoformat() for n in range(-1, lookback_days + 1)}
    found: dict[str, tuple[S3Object, datetime]] = {}
    paginator = s3.get_paginator("list_objects_v2")

    def add(obj: dict) -> None:
        modified = obj["LastModified"]
        found[obj["Key"]] = (S3Object(key=obj["Key"], etag=obj["ETag"].strip('"'), size=obj["Size"],
                                      uploaded=modified.astimezone(timezone.utc).date(),
                                      event=modified.isoformat()), modified)

    for contract in CONTRACTS.values():
        for prefix in contract_prefixes(s3, bucket, contract):  # the folders routing takes, any case
            files, folders = recent_folders(s3, bucket, prefix, days)
            for obj in files:
                add(obj)
            for folder in folders:
                for page in paginator.paginate(Bucket=bucket, Prefix=folder):
                    for obj in page.get("Contents", []):
                        add(obj)
    return list(found.values())


def new_objects(listed: list[tuple[S3Object, datetime]], cursor: dict) -> tuple[list[S3Object], dict]:
    """Objects not seen before (or uploaded again, even with the same bytes), and the next cursor."""
    since = datetime.fromisoformat(cursor["since"]) if cursor.get("since") else None
    seen: dict[str, str] = cursor.get("seen", {})
    fresh = [obj for obj, modified in listed
             if (since is None or modified >= since - CLOCK_SKEW) and seen.get(obj.key) != _version(obj)]
    watermark = max([modified for _, modified in listed] + ([since] if since else []), default=None)
    next_seen = {obj.key: _version(obj) for obj, modified in listed
                 if watermark and modified >= watermark - CLOCK_SKEW}
    return fresh, {"since": watermark.isoformat() if watermark else None, "seen": next_seen}


def _version(obj: S3Object) -> str:
    return f"{obj.etag}@{obj.event}"  # a re-upload of the same bytes has a new LastModified


@sensor(
    name="s3_upload_sensor",
    jobs=load_jobs,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING if "s3" in get_settings().upload_sensors else DefaultSensorStatus.STOPPED,
    description="Polls recent raw-bucket folders for new or re-uploaded objects (when S3 notifications are off).",
)
def s3_upload_sensor(context: SensorEvaluationContext, s3: S3Resource, dynamodb: DynamoDBResource, sns: SNSResource):
    settings = get_settings()
    client = s3.get_client()
    now = datetime.now(timezone.utc)
    try:
        listed = list_recent(client, settings.names.raw_bucket, now, settings.s3_sensor_lookback_days)
    except Exception as exc:  # bucket or endpoint unavailable: skip this tick, say why
        return SkipReason(f"raw bucket {settings.names.raw_bucket!r} unavailable: {exc}")
    fresh, cursor = new_objects(listed, json.loads(context.cursor) if context.cursor else {})
    ddb = dynamodb.get_client()
    try:
        states = get_states(ddb, settings.names.state_table, [o.key for o in fresh])
    except Exception as exc:  # without state nothing can be planned safely: the same objects next tick
        return SkipReason(f"processing state unavailable: {exc}")
    plan, window = Plan(), partition_window()
    for obj in fresh:  # one object that cannot be planned is quarantined with its reason, alone
        try:
            add_object(plan, obj, states, window)
        except Exception as exc:  # noqa: BLE001
            plan.rejected.append((obj, f"invalid:{type(exc).__name__}"))
    finish(plan)
    if plan.rejected:
        quarantine_rejected(client, sns.get_client(), ddb, settings, plan.rejected)
    requests, pending = plan_run_requests(plan, "s3_upload_sensor", states)
    put_states(ddb, settings.names.state_table, pending)
    context.log.info(f"listed {len(listed)} recent object(s): {len(fresh)} new, {len(requests)} run request(s), "
                     f"{len(plan.skipped)} skipped, {len(plan.rejected)} quarantined")
    if not requests:
        return SensorResult(skip_reason=SkipReason(f"no new objects among {len(listed)} recent"), cursor=json.dumps(cursor))
    return SensorResult(run_requests=requests, cursor=json.dumps(cursor))
