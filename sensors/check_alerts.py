"""``check_failure_alert_sensor``: an SNS alert on the alerts topic listing the new failed evaluations of
the monitored asset checks (the warehouse freshness checks of ``assets/freshness.py``), one per tick.

Their runs succeed when a check fails, so ``sensors/alerts.py`` (failed runs) does not see them; blocking
checks fail their run and are alerted there. The cursor keeps, per check, the last evaluation seen and
the partition it failed on, so each missing partition is alerted once (the checks also run in every
load run); an alert that cannot be sent is retried on the next tick.
"""

import json
from datetime import datetime, timezone

from dagster import (AssetCheckEvaluation, AssetCheckKey, AssetCheckSeverity, DefaultSensorStatus,
                     SensorEvaluationContext, SkipReason, TimestampMetadataValue, sensor)

from assets.freshness import warehouse_freshness
from pipeline_defs.aws import topic_arn
from pipeline_defs.settings import get_settings
from resources.aws import SNSResource

MONITORED: list[AssetCheckKey] = sorted(warehouse_freshness.check_keys, key=lambda k: k.to_user_string())


def check_failure_message(failures: list[tuple[AssetCheckKey, str | None, dict]],
                          ui_url: str | None) -> tuple[str, str]:
    """(subject, body) of one alert for the failed checks ``(key, reason, metadata)``; SNS subjects
    are limited to 100 characters."""
    names = [f"{key.asset_key.to_user_string()} {key.name}" for key, _, _ in failures]
    subject = f"data-pipeline: {len(names)} check(s) failed: {', '.join(names)}"
    blocks = []
    for (key, reason, metadata), name in zip(failures, names):
        lines = [f"Check:     {name}", f"Reason:    {reason or 'failed'}"]
        lines += [f"{field + ':':<10} {value}" for field, value in metadata.items()]
        if ui_url:
            lines.append(f"Details:   {ui_url.rstrip('/')}/assets/{key.asset_key.to_user_string()}?view=checks")
        blocks.append("\n".join(lines))
    return (subject[:97] + "...") if len(subject) > 100 else subject, "\n\n".join(blocks)


def _shown(value) -> str:
    if isinstance(value, TimestampMetadataValue):
        return datetime.fromtimestamp(value.value, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(getattr(value, "value", value))


@sensor(name="check_failure_alert_sensor", default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=60,
        description="Publishes an SNS alert to the alerts topic when a warehouse freshness check fails.")
def check_failure_alert_sensor(context: SensorEvaluationContext, sns: SNSResource):
    settings = get_settings()
    # per check: the last evaluation seen, and what it was failing on (a re-evaluation that fails on
    # the same partition, e.g. in every load run of a backfill, is not alerted again)
    seen: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
    latest, failures = {}, []
    for key in MONITORED:
        record = context.instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.event.dagster_event.event_specific_data if record and record.event else None
        before = seen.get(key.to_user_string(), {})
        if not isinstance(evaluation, AssetCheckEvaluation) or record.id <= before.get("id", 0):
            continue  # never evaluated, still running (planned), or already seen
        metadata = {k: _shown(v) for k, v in evaluation.metadata.items() if not k.startswith("dagster/")}
        failing = None
        if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
            failing = metadata.get("partition", evaluation.description or "failed")
            if failing != before.get("failing"):
                failures.append((key, evaluation.description, metadata))
        latest[key.to_user_string()] = {"id": record.id, "failing": failing}
    if failures:
        subject, body = check_failure_message(failures, settings.dagster_url)
        try:
            sns.get_client().publish(TopicArn=topic_arn(settings, settings.names.alerts_topic),
                                     Subject=subject, Message=body)
        except Exception as exc:  # nothing marked seen: retried on the next tick; say why in the sensor's log
            context.log.warning(f"alert not sent to {settings.names.alerts_topic!r} ({exc}): {subject}")
            return SkipReason(f"alert not sent: {exc}")
    context.update_cursor(json.dumps({**seen, **latest}, sort_keys=True))
    return SkipReason(f"alerted: {len(failures)} failed check(s)" if failures else "no new failed checks")
