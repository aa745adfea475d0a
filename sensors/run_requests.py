"""Run requests from an upload plan — the one place both upload sensors turn a plan into runs."""

from dagster import RunRequest

from pipeline_defs.jobs import load_job_name
from pipeline_defs.uploads import Plan, run_key

# The run queue runs at most one load per dataset-partition at a time (tag_concurrency_limits in
# dagster.yaml): two merges of the same keys at once would only wait on, or deadlock with, each other.
LOAD_TAG = "pipeline/load"


def plan_run_requests(plan: Plan, trigger: str) -> list[RunRequest]:
    """One run of ``load_<dataset>`` per dataset-partition; the run key is derived from the object set."""
    return [
        RunRequest(run_key=run_key(dataset, partition, objs), job_name=load_job_name(dataset), partition_key=partition,
                   tags={"pipeline/trigger": trigger, "pipeline/objects": str(len(objs)),
                         LOAD_TAG: f"{dataset}:{partition}"})
        for (dataset, partition), objs in plan.requests.items()
    ]
