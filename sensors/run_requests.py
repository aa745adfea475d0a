"""Run requests from an upload plan — the one place the upload and recovery sensors build load runs."""

from dagster import RunRequest

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.jobs import dataset_keys, load_job_name
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.state import PENDING, FileState
from pipeline_defs.uploads import Plan, attempt_of, run_key

# The run queue runs at most one load per dataset-partition at a time (concurrency.runs in
# dagster.yaml): two merges of the same keys at once would only wait on, or deadlock with, each other.
LOAD_TAG = "pipeline/load"
REQUEST_TAG = "pipeline/request"  # the run key; kept by Dagster's run retries (they copy the tags)
ATTEMPT_TAG = "pipeline/attempt"
# A load whose run worker died unseen (the local launcher cannot check workers) is ended by Dagster's
# run monitoring after this long, and then retried by sensors/recovery.py like any failed load.
LOAD_MAX_RUNTIME_SECONDS = 2 * 3600


def partition_window() -> tuple[str, str]:
    """(first, last) partition key that exists now; a ``dt=`` outside is rejected, not requested."""
    return daily_partitions.get_first_partition_key(), daily_partitions.get_last_partition_key()


def load_request(dataset: str, partition: str, key: str, attempt: int, objects: int, trigger: str) -> RunRequest:
    """The whole ``load_<dataset>`` job, with its assets named as the run's selection: Dagster's automation
    then knows the run also targets the warehouse tables, so a validated partition whose warehouse step
    failed is left to sensors/recovery.py instead of getting a second, warehouse-only run."""
    return RunRequest(run_key=key, job_name=load_job_name(dataset), partition_key=partition,
                      asset_selection=dataset_keys(CONTRACTS[dataset]),
                      tags={"pipeline/trigger": trigger, "pipeline/objects": str(objects),
                            LOAD_TAG: f"{dataset}:{partition}", REQUEST_TAG: key, ATTEMPT_TAG: str(attempt),
                            "dagster/max_runtime_seconds": str(LOAD_MAX_RUNTIME_SECONDS)})


def plan_run_requests(plan: Plan, trigger: str, states: dict[str, FileState]) -> tuple[list[RunRequest], list[FileState]]:
    """One run of ``load_<dataset>`` per dataset-partition, and the ``pending`` state of its objects."""
    requests, pending = [], []
    for (dataset, partition), objs in plan.requests.items():
        attempt = attempt_of(objs, states)
        key = run_key(dataset, partition, objs, attempt)
        requests.append(load_request(dataset, partition, key, attempt, len(objs), trigger))
        pending += [FileState(key=o.key, etag=o.etag, dataset=dataset, partition=partition, status=PENDING,
                              size=o.size, run_key=key, attempt=attempt) for o in objs]
    return requests, pending
