"""Objects no contract claims: copied to quarantine as ``unroutable``, recorded, and alerted — never ignored."""

from __future__ import annotations

from pipeline_defs.aws import topic_arn
from pipeline_defs.settings import Settings
from pipeline_defs.state import QUARANTINED, FileState, put_states
from pipeline_defs.uploads import S3Object

UNROUTABLE_PREFIX = "unroutable/"


def quarantine_unroutable(s3, sns, ddb, settings: Settings, objects: list[S3Object]) -> None:
    names = settings.names
    for obj in objects:
        try:
            s3.copy_object(Bucket=names.quarantine_bucket, Key=UNROUTABLE_PREFIX + obj.key,
                           CopySource={"Bucket": names.raw_bucket, "Key": obj.key},
                           Metadata={"reason": "unroutable"}, MetadataDirective="REPLACE")
        except s3.exceptions.ClientError:
            pass  # deleted before we got to it; the state item and the alert still say what happened
    put_states(ddb, names.state_table, [
        FileState(key=o.key, etag=o.etag, dataset="unroutable", partition=o.uploaded.isoformat(),
                  status=QUARANTINED, size=o.size, reason="unroutable") for o in objects])
    listing = "\n".join(f"  s3://{names.raw_bucket}/{o.key}" for o in objects[:20])
    more = f"\n  … and {len(objects) - 20} more" if len(objects) > 20 else ""
    sns.publish(TopicArn=topic_arn(settings, names.alerts_topic),
                Subject=f"data-pipeline: {len(objects)} unroutable upload(s)",
                Message=(f"No data contract matches these objects; copied to "
                         f"s3://{names.quarantine_bucket}/{UNROUTABLE_PREFIX}:\n{listing}{more}\n"
                         "Expected <source>/<dataset>/[dt=YYYY-MM-DD/]<name>.(json|jsonl|ndjson|csv)[.gz]"))
