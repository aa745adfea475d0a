"""Objects that cannot be loaded (no contract claims them, or their ``dt=`` is outside the partitions):
copied to quarantine under their reason, recorded, and alerted — never ignored."""

from __future__ import annotations

from pipeline_defs.aws import topic_arn
from pipeline_defs.contracts import route
from pipeline_defs.settings import Settings
from pipeline_defs.state import QUARANTINED, FileState, put_states
from pipeline_defs.uploads import UNROUTABLE, S3Object


def quarantine_folder(reason: str) -> str:
    """``unroutable`` → ``unroutable/``, ``invalid:partition`` → ``invalid-partition/``."""
    return reason.replace(":", "-") + "/"


def quarantine_rejected(s3, sns, ddb, settings: Settings, rejected: list[tuple[S3Object, str]]) -> None:
    names = settings.names
    for obj, reason in rejected:
        try:
            s3.copy_object(Bucket=names.quarantine_bucket, Key=quarantine_folder(reason) + obj.key,
                           CopySource={"Bucket": names.raw_bucket, "Key": obj.key},
                           Metadata={"reason": reason}, MetadataDirective="REPLACE")
        except s3.exceptions.ClientError:
            pass  # deleted before we got to it; the state item and the alert still say what happened
    put_states(ddb, names.state_table, [
        FileState(key=o.key, etag=o.etag, dataset=_dataset(o.key), partition=o.uploaded.isoformat(),
                  status=QUARANTINED, size=o.size, reason=reason) for o, reason in rejected])
    listing = "\n".join(f"  s3://{names.raw_bucket}/{o.key}  ({reason})" for o, reason in rejected[:20])
    more = f"\n  … and {len(rejected) - 20} more" if len(rejected) > 20 else ""
    sns.publish(TopicArn=topic_arn(settings, names.alerts_topic),
                Subject=f"data-pipeline: {len(rejected)} upload(s) not loadable ({_reasons(rejected)})"[:100],
                Message=(f"These objects were not loaded; copied to s3://{names.quarantine_bucket}/<reason>/:"
                         f"\n{listing}{more}\n"
                         "unroutable: no data contract matches; expected "
                         "<source>/<dataset>/[dt=YYYY-MM-DD/]<name>.(json|jsonl|ndjson|csv)[.gz]\n"
                         "invalid:partition: the dt= folder is outside the pipeline's daily partitions"))


def _dataset(key: str) -> str:
    routed = None if key.startswith("/") else route(key)
    return routed.dataset if routed else UNROUTABLE


def _reasons(rejected: list[tuple[S3Object, str]]) -> str:
    return ", ".join(sorted({reason for _, reason in rejected}))
