"""``freshness`` checks on every ``warehouse/<table>``: is yesterday's partition loaded by 07:00 UTC?

One check per warehouse table, shown on the asset in the UI. It looks at the partition that is due
(the day before the latest 07:00 UTC deadline) and fails while that partition has never been
materialised; metadata says which partition, its deadline, and when and how late it arrived.
``sensors/freshness.py`` runs the checks just after each deadline (a warehouse run of the asset runs
them too), and ``sensors/check_alerts.py`` turns a failure into an SNS alert.

Dagster's ``build_time_partition_freshness_checks`` would expect *today's* partition (our daily
partitions have ``end_offset=1``), and ``FreshnessPolicy`` (declared on the specs with the same
deadline) judges the asset's latest materialisation of any partition, so neither sees a missing day.
"""

from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    multi_asset_check,
)

from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.contracts.schema import table_names

DEADLINE_HOUR_UTC = 7
DEADLINE_CRON = f"0 {DEADLINE_HOUR_UTC} * * *"  # also the warehouse specs' FreshnessPolicy
FRESHNESS_CHECK = "freshness"
WAREHOUSE_KEYS = [AssetKey(["warehouse", table]) for contract in CONTRACTS.values() for table in table_names(contract)]


def due_partition(now: datetime) -> tuple[date, datetime]:
    """The partition that must be loaded at ``now``, and its deadline (the latest one passed)."""
    deadline = datetime.combine(now.astimezone(timezone.utc).date(), time(DEADLINE_HOUR_UTC), timezone.utc)
    if now < deadline:
        deadline -= timedelta(days=1)
    return deadline.date() - timedelta(days=1), deadline


def freshness_result(key: AssetKey, day: date, deadline: datetime, arrived: float | None) -> AssetCheckResult:
    """The check's verdict for one table: ``arrived`` is when ``day`` was first loaded (epoch s), if ever."""
    metadata = {"partition": day.isoformat(), "deadline": MetadataValue.timestamp(deadline)}
    if arrived is None:
        description = f"partition {day} is not loaded; it was due by {deadline:%Y-%m-%d %H:%M} UTC"
    else:
        late = max(0, round((arrived - deadline.timestamp()) / 60))
        metadata.update(arrived_at=MetadataValue.timestamp(arrived), late_by_minutes=late)
        description = f"partition {day} loaded" + (f", {late} min after its deadline" if late else " on time")
    return AssetCheckResult(asset_key=key, check_name=FRESHNESS_CHECK, passed=arrived is not None,
                            metadata=metadata, description=description)


@multi_asset_check(
    name="warehouse_freshness",
    specs=[AssetCheckSpec(FRESHNESS_CHECK, asset=key, description=f"yesterday's partition is loaded by "
                          f"{DEADLINE_HOUR_UTC:02d}:00 UTC (fails while it is missing; alerts)")
           for key in WAREHOUSE_KEYS],
    can_subset=True,
)
def warehouse_freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    day, deadline = due_partition(datetime.now(timezone.utc))
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.to_user_string()):
        first = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=check_key.asset_key, asset_partitions=[day.isoformat()]),
            limit=1, ascending=True).records
        yield freshness_result(check_key.asset_key, day, deadline, first[0].timestamp if first else None)
