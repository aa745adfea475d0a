"""``run_failure_alert_sensor``: a concise SNS alert for every failed run (job, partition, step, error, link)."""


from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from pipeline_defs.aws import topic_arn
from pipeline_defs.settings import get_settings
from resources.aws import SNSResource


def failure_message(job: str, run_id: str, partition: str | None, step: str | None, error: str,
                    ui_url: str | None) -> tuple[str, str]:
    """(subject, body) of the alert; SNS subjects are limited to 100 characters."""
    subject = f"data-pipeline: {job} failed" + (f" for {partition}" if partition else "")
    lines = [f"Job:       {job}", f"Run:       {run_id}"]
    if partition:
        lines.append(f"Partition: {partition}")
    if step:
        lines.append(f"Step:      {step}")
    lines.append(f"Error:     {error.strip().splitlines()[0][:500] if error.strip() else 'unknown'}")
    if ui_url:
        lines.append(f"Details:   {ui_url.rstrip('/')}/runs/{run_id}")
    return subject[:100], "\n".join(lines)


@run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Publishes a short SNS alert to the alerts topic when a run fails.",
)
def run_failure_alert_sensor(context: RunFailureSensorContext, sns: SNSResource) -> None:
    settings = get_settings()
    run = context.dagster_run
    step = None
    error = context.failure_event.message or ""
    step_failures = context.get_step_failure_events()
    if step_failures:
        first = step_failures[0]
        step = first.step_key
        data = first.event_specific_data
        if data is not None and getattr(data, "error", None) is not None:
            error = data.error.message or error
    subject, body = failure_message(run.job_name, run.run_id, run.tags.get("dagster/partition"), step, error,
                                    settings.dagster_url)
    try:
        sns.get_client().publish(TopicArn=topic_arn(settings, settings.names.alerts_topic), Subject=subject, Message=body)
    except Exception as exc:  # an alert that cannot be sent must not fail the sensor; say why in its log
        context.log.warning(f"alert not sent to {settings.names.alerts_topic!r} ({exc}): {subject}")
