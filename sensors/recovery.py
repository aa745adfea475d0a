"""``load_recovery_sensor``: a failed or cancelled load comes back by itself.

Every tick it looks at the load runs that failed for good in the last day, per load job (so other
failing runs never crowd them out of the query's limit). Dagster's own run retries (``run_retries`` in
dagster.yaml) come first: a run tagged ``dagster/will_retry=true`` is left to them.
For each, the files its request left ``pending`` (``pipeline_defs/state.py``) become ``failed`` with
the attempt and when the next is due (1, 4, 16 minutes); once due, the partition is requested again
under the next attempt's run key, so a retry is a new run while a second look at the same failure is
not. After :data:`MAX_ATTEMPTS` failed loads the files stay ``failed`` and one alert says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dagster import DagsterRunStatus, DefaultSensorStatus, RunsFilter, SensorEvaluationContext, SensorResult, sensor
from dagster._core.storage.tags import WILL_RETRY_TAG

from pipeline_defs.aws import topic_arn
from pipeline_defs.jobs import load_jobs
from pipeline_defs.settings import get_settings
from pipeline_defs.state import (FAILED, MAX_ATTEMPTS, PENDING, FileState, list_partition_states, put_states,
                                 retry_delay_seconds)
from pipeline_defs.uploads import next_attempt_key
from resources.aws import DynamoDBResource, SNSResource
from sensors.run_requests import ATTEMPT_TAG, LOAD_TAG, REQUEST_TAG, load_request

LOOKBACK = timedelta(days=1)
FINAL = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def failed_files(states: list[FileState], request: str, attempt: int, run_id: str, now: datetime,
                 ) -> list[FileState]:
    """The request's ``pending`` files, now ``failed`` with when the next attempt is due."""
    due = (now + timedelta(seconds=retry_delay_seconds(attempt))).isoformat(timespec="seconds")
    gave_up = attempt >= MAX_ATTEMPTS
    return [FileState(key=s.key, etag=s.etag, dataset=s.dataset, partition=s.partition, status=FAILED,
                      size=s.size, run_id=run_id, run_key=request, attempt=attempt, retry_at="" if gave_up else due,
                      reason=f"gave up after {attempt} failed loads (last run {run_id})" if gave_up
                      else f"load attempt {attempt} failed (run {run_id}); retried at {due}")
            for s in states if s.status == PENDING and s.run_key == request]


def due_retries(states: list[FileState], request: str, now: datetime) -> list[FileState]:
    """The request's ``failed`` files whose next attempt is due (none once attempts are used up)."""
    return [s for s in states if s.status == FAILED and s.run_key == request and s.retry_at
            and datetime.fromisoformat(s.retry_at) <= now]


@sensor(
    name="load_recovery_sensor",
    jobs=load_jobs,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Marks the files of a failed load `failed` and requests the load again with backoff, then alerts.",
)
def load_recovery_sensor(context: SensorEvaluationContext, dynamodb: DynamoDBResource, sns: SNSResource):
    settings = get_settings()
    now = datetime.now(timezone.utc)
    ddb = dynamodb.get_client()
    records = [record for job in load_jobs for record in context.instance.get_run_records(
        filters=RunsFilter(job_name=job.name, statuses=FINAL, updated_after=now - LOOKBACK), limit=200)]
    requests, gave_up = [], []
    for record in records:
        run = record.dagster_run
        request = run.tags.get(REQUEST_TAG)
        if not request or run.tags.get(WILL_RETRY_TAG) == "true" or not run.tags.get(LOAD_TAG):
            continue  # not an upload load, or Dagster's run retry takes it
        dataset, partition = run.tags[LOAD_TAG].split(":", 1)
        attempt = int(run.tags.get(ATTEMPT_TAG, "1"))
        states = list(list_partition_states(ddb, settings.names.state_table, dataset, partition))
        failed = failed_files(states, request, attempt, run.run_id, now)
        if failed:
            put_states(ddb, settings.names.state_table, failed)
            context.log.warning(f"{run.job_name} {partition} attempt {attempt} {run.status.value}: "
                                f"{len(failed)} file(s) marked failed")
            if attempt >= MAX_ATTEMPTS:
                gave_up.append((run, failed))
            states = failed
        due = due_retries(states, request, now)
        if due:
            key = next_attempt_key(request, attempt + 1)
            requests.append(load_request(dataset, partition, key, attempt + 1, len(due), "load_recovery_sensor"))
            put_states(ddb, settings.names.state_table, [
                FileState(key=s.key, etag=s.etag, dataset=dataset, partition=partition, status=PENDING, size=s.size,
                          run_key=key, attempt=attempt + 1, reason=f"retry of run {run.run_id}") for s in due])
    for run, files in gave_up:
        _alert(sns.get_client(), settings, run, files, context)
    return SensorResult(run_requests=requests, skip_reason=None if requests else "no failed load due for a retry")


def _alert(sns, settings, run, files: list[FileState], context) -> None:
    listing = "\n".join(f"  s3://{settings.names.raw_bucket}/{f.key}" for f in files[:20])
    try:
        sns.publish(TopicArn=topic_arn(settings, settings.names.alerts_topic),
                    Subject=f"data-pipeline: {run.job_name} {run.tags.get('dagster/partition', '')} gave up"[:100],
                    Message=(f"{len(files)} file(s) failed {MAX_ATTEMPTS} loads; last run {run.run_id}. They stay "
                             f"'failed' (pipeline status files); re-upload them or re-run the partition.\n{listing}"))
    except Exception as exc:  # noqa: BLE001 — the state still says failed; the log says why no alert
        context.log.warning(f"give-up alert not sent ({exc})")
