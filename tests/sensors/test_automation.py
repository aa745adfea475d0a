"""The automation conditions of the real definitions, evaluated by Dagster's own evaluator
(``evaluate_automation_conditions``) against an ephemeral instance: what a tick of the
automation-condition sensor would request after a past day's warehouse load."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from pipeline_defs.definitions import defs
from sensors.automation import automation_condition_sensor

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.timezone.utc)
PAST_DAY = "2026-11-01"  # weeks before the latest partition: eager() would ignore it

ORDERS = dg.AssetKey(["warehouse", "orders"])
ROLLUPS = dg.AssetKey(["analytics", "sales_rollups"])
DUPLICATES = dg.AssetKey(["analytics", "customer_duplicates"])
REPORT = dg.AssetKey(["reports", "daily_report"])
ORDER_AGGREGATES = {dg.AssetKey(["aggregates", n]) for n in ("revenue", "orders", "top_products", "data_quality")}


class Ticks:
    """Successive evaluations, each continuing from the previous tick's cursor, as the sensor does."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self.cursor = instance, None

    def __call__(self) -> dict[dg.AssetKey, set[str]]:
        result = dg.evaluate_automation_conditions(defs=defs, instance=self.instance, evaluation_time=NOW,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        return {key: set(result.get_requested_partitions(key))
                for key in defs.resolve_asset_graph().get_all_asset_keys() if result.get_requested_partitions(key)}


def materialized(instance: dg.DagsterInstance, *keys: dg.AssetKey, day: str = PAST_DAY) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_sensor_runs_by_default():
    assert automation_condition_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_past_days_load_requests_its_derived_assets_once(instance):
    tick = Ticks(instance)
    assert tick() == {}  # nothing ever loaded: nothing requested, for no day

    materialized(instance, ORDERS, dg.AssetKey(["warehouse", "order_items"]))
    requested = tick()
    assert requested[ROLLUPS] == {PAST_DAY}
    assert ORDER_AGGREGATES <= set(requested) and all(requested[k] == {PAST_DAY} for k in ORDER_AGGREGATES)
    assert DUPLICATES not in requested  # customers did not change
    assert dg.AssetKey(["aggregates", "market_5m"]) not in requested  # neither did market ticks
    assert REPORT not in requested  # never published: its first publication is the 08:00 schedule's

    assert tick() == {}  # requested once: the next tick asks for nothing


def test_nothing_is_requested_twice_while_a_run_is_in_progress(instance):
    tick = Ticks(instance)
    tick()
    materialized(instance, dg.AssetKey(["warehouse", "customers"]))
    assert tick()[DUPLICATES] == {PAST_DAY}

    # the requested run is queued; while it waits, the same day's customers load again
    job = defs.resolve_implicit_global_asset_job_def()
    run = instance.create_run_for_job(job, asset_selection=frozenset({DUPLICATES}),
                                      tags={"dagster/partition": PAST_DAY})
    assert tick() == {}
    materialized(instance, dg.AssetKey(["warehouse", "customers"]))
    assert DUPLICATES not in tick()
    assert DUPLICATES not in tick()

    # the run writes its result, from what it read before that load: one more request, once
    materialized(instance, DUPLICATES)
    assert tick()[DUPLICATES] == {PAST_DAY}
    instance.report_run_failed(run)
    assert DUPLICATES not in tick()


def test_a_run_that_ends_without_materialising_is_requested_again_after_a_new_load(instance):
    tick = Ticks(instance)
    tick()
    materialized(instance, dg.AssetKey(["warehouse", "customers"]))
    assert tick()[DUPLICATES] == {PAST_DAY}
    run = instance.create_run_for_job(defs.resolve_implicit_global_asset_job_def(),
                                      asset_selection=frozenset({DUPLICATES}), tags={"dagster/partition": PAST_DAY})
    assert tick() == {}
    materialized(instance, dg.AssetKey(["warehouse", "customers"]))
    assert DUPLICATES not in tick()  # in progress
    instance.report_run_failed(run)
    assert tick()[DUPLICATES] == {PAST_DAY}
    assert DUPLICATES not in tick()


def test_a_published_report_is_revised_when_its_aggregates_change(instance):
    tick = Ticks(instance)
    tick()
    # the 08:00 schedule's run: the aggregates and the first publication together
    materialized(instance, *ORDER_AGGREGATES, REPORT)
    assert REPORT not in tick()

    materialized(instance, ORDERS)  # a late file for that day
    requested = tick()
    assert ORDER_AGGREGATES <= set(requested)
    assert requested[REPORT] == {PAST_DAY}  # in the same tick, so the same run, after the aggregates


def test_a_report_waits_for_the_days_loads_in_progress(instance):
    tick = Ticks(instance)
    tick()
    materialized(instance, *ORDER_AGGREGATES, dg.AssetKey(["aggregates", "new_customers"]), REPORT)
    assert tick() == {}

    # a late upload of two files: the customers load is done, the orders load still queued
    orders_load = instance.create_run_for_job(defs.resolve_job_def("load_orders"), tags={"dagster/partition": PAST_DAY})
    materialized(instance, dg.AssetKey(["warehouse", "customers"]))
    requested = tick()
    assert requested[dg.AssetKey(["aggregates", "new_customers"])] == {PAST_DAY}
    assert REPORT not in requested  # not a revision per file

    materialized(instance, dg.AssetKey(["aggregates", "new_customers"]))
    materialized(instance, ORDERS, dg.AssetKey(["warehouse", "order_items"]))
    instance.report_run_failed(orders_load)
    requested = tick()
    assert ORDER_AGGREGATES <= set(requested) and requested[REPORT] == {PAST_DAY}  # one revision for both


def test_a_day_without_a_report_is_not_published_by_automation(instance):
    tick = Ticks(instance)
    tick()
    materialized(instance, *ORDER_AGGREGATES, day="2026-11-27")  # today, mid-day
    assert REPORT not in tick()


VALIDATED_CUSTOMERS = dg.AssetKey(["validated", "customers"])


def validated(instance: dg.DagsterInstance, run: dg.DagsterRun | None = None, check_failed: bool = False) -> None:
    """validated/customers materialised — by ``run``'s step, or alone — (``check_failed``: with its
    blocking row_equation failed)."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData

    if run is None:
        materialized(instance, VALIDATED_CUSTOMERS)
    else:
        instance.report_dagster_event(DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value, job_name=run.job_name,
            event_specific_data=StepMaterializationData(dg.AssetMaterialization(VALIDATED_CUSTOMERS, partition=PAST_DAY))),
            run_id=run.run_id)
    if check_failed:
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=VALIDATED_CUSTOMERS, check_name="row_equation", passed=False, partition=PAST_DAY))


def test_a_load_that_fails_in_the_warehouse_step_is_left_to_the_recovery_sensor(instance):
    """The upload sensor's load run validated the day, then its warehouse step failed (a blocked merge,
    an outage): automation does not start a second, warehouse-only run of the same partition — the
    recovery sensor (sensors/recovery.py) re-requests the whole load with backoff."""
    from sensors.run_requests import load_request

    tick = Ticks(instance)
    tick()
    request = load_request("customers", PAST_DAY, "customers:key:a1", 1, 1, "sqs_upload_sensor")
    run = instance.create_run_for_job(defs.resolve_job_def(request.job_name),
                                      asset_selection=frozenset(request.asset_selection or ()),
                                      tags={**request.tags, "dagster/partition": PAST_DAY})
    validated(instance, run)
    instance.report_run_failed(run)
    assert dg.AssetKey(["warehouse", "customers"]) not in tick()

    # validated materialised alone (a backfill of that asset) still reaches the warehouse
    validated(instance)
    assert tick()[dg.AssetKey(["warehouse", "customers"])] == {PAST_DAY}


def test_a_failed_blocking_check_holds_back_only_its_own_downstream(instance):
    """validated/customers materialised with its blocking row_equation failed: its warehouse table is not
    requested. The rollups of a day whose customers and products never loaded (no check ran for them)
    still follow that day's orders."""
    tick = Ticks(instance)
    tick()
    validated(instance, check_failed=True)
    assert dg.AssetKey(["warehouse", "customers"]) not in tick()
    materialized(instance, ORDERS, dg.AssetKey(["warehouse", "order_items"]))
    assert tick()[ROLLUPS] == {PAST_DAY}
