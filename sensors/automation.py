"""Declarative automation: which partitions re-materialise by themselves, and the sensor that asks.

``AutomationCondition.eager()`` looks at the latest time partition only (``in_latest_time_window``),
so a ``dt=`` upload for a past day, a backfill or a late file never reached what is derived from it.
The conditions here are the same parts without that window: any day whose upstream changed is
requested, once, and not while it or its upstream is still running.

* :func:`upstream_changed` — warehouse tables after their validated rows; with
  ``again_after_own_run`` the analytics rollups and duplicate pairs, and the aggregates.
* :func:`revise_published` — the daily report: only days already published (the first publication
  is the 08:00 ``daily_report_schedule`` in sensors/schedules.py, never mid-day), then again after
  each change of their aggregates; publish.py marks those messages "revised".

``automation_condition_sensor`` evaluates them, on by default (locally and on ECS), every
``PIPELINE_AUTOMATION_INTERVAL_SECONDS`` (30).
"""

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus

from pipeline_defs.settings import get_settings

TRIGGER_TAG = "pipeline/trigger"


def upstream_changed(*, again_after_own_run: bool = False) -> AutomationCondition:
    """True for any partition with an upstream update it has not been materialised after.

    Partitions whose upstream never materialised have no update, so they are never requested; an
    update made by a run that also materialises this asset does not count; nothing is requested
    while this partition or one of its upstream partitions is in a run or backfill, nor while an
    upstream blocking check has failed.

    ``since_last_handled`` takes an update that lands while a run of this partition is under way as
    seen by that run. ``again_after_own_run`` requests the partition once more after such a run
    (it may have read the data before the update): only for assets never in one job with their
    upstream, because a job run launched without an asset selection (the 08:00 report job) is not
    recognised as materialising both, and would be followed by a needless second run. (Load runs name
    their assets, sensors/run_requests.py, so a validated partition they wrote is theirs to finish.)
    Not for backfills, whose runs of this asset start after their upstream's runs.
    """
    updated = AutomationCondition.any_deps_updated()
    latched = updated.since_last_handled()
    if again_after_own_run:
        latched = latched | (updated & AutomationCondition.run_in_progress()).since(
            AutomationCondition.newly_requested())
    return (
        latched
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & ~_upstream_blocked()
    ).with_label("upstream_changed")


def _upstream_blocked() -> AutomationCondition:
    """An upstream partition's latest blocking check failed. Not Dagster's
    ``all_deps_blocking_checks_passed()``: that also waits for upstream partitions no check ever ran on
    (a day whose customers or products were never uploaded), and the rollups of such a day never ran."""
    failed = AutomationCondition.any_checks_match(AutomationCondition.check_failed(), blocking_only=True)
    return AutomationCondition.any_deps_match(failed).with_label("upstream_blocked")


def revise_published() -> AutomationCondition:
    """:func:`upstream_changed`, for partitions that have been materialised (published) before, and
    not while a load of their upstream's upstream (the day's warehouse tables) is under way: a late
    upload of several files is one revision, not one per file."""
    upstream_loading = AutomationCondition.any_deps_match(AutomationCondition.any_deps_in_progress())
    return (~AutomationCondition.missing() & upstream_changed() & ~upstream_loading).with_label("revise_published")


automation_condition_sensor = AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=get_settings().automation_interval_seconds,
    emit_backfills=False,  # one run per partition, as the other triggers launch them
    run_tags={TRIGGER_TAG: "automation"},
    description="Re-materialises, for any day, what is derived from data that changed (conditions in "
                "sensors/automation.py): warehouse after validated, analytics rollups and duplicates, "
                "aggregates, and the reports already published.",
)
