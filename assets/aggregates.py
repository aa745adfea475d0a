"""``aggregates/<name>``: the day's business metrics, computed in PostgreSQL and stored in DynamoDB.

One subsettable multi-asset (one step, one database connection) so the daily-report job computes
all of them cheaply. Each aggregate of a day is recomputed by automation after its warehouse tables
change for that day (sensors/automation.py): the market ones after each load of ticks, a past day
after a late file. The logic lives in :mod:`pipeline_defs.aggregates`; this module only wires it in.
"""

from datetime import date
from typing import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Backoff,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)

from pipeline_defs.aggregates import AGGREGATES, compute_and_store
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings
from resources.aws import DynamoDBResource
from resources.postgres import PostgresResource
from sensors.automation import upstream_changed

PREVIEW_ROWS = 12


def aggregate_key(name: str) -> AssetKey:
    return AssetKey(["aggregates", name])


def items_markdown(items: list[dict], limit: int = PREVIEW_ROWS) -> str:
    """The first items as a markdown table for the UI (nested values shown compactly)."""
    if not items:
        return "_No items for this day (no source data)._"
    columns = list(dict.fromkeys(k for item in items[:limit] for k in item))

    def cell(value) -> str:
        if isinstance(value, list):
            value = ", ".join(f"{v.get('reason', v)}: {v.get('records', '')}" if isinstance(v, dict) else str(v)
                              for v in value) or "–"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(item.get(c, "")) for c in columns) + " |" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"\n_{len(items) - limit} more items in DynamoDB._")
    return "\n".join(lines)


SPECS = [
    AssetSpec(
        key=aggregate_key(a.name),
        deps=[AssetKey(["warehouse", t]) for t in a.tables],
        group_name="aggregates",
        kinds={"postgres", "dynamodb"},
        description=a.description,
        metadata={"dynamodb_key": f"pk={a.name}#<YYYY-MM-DD>, sk={a.sort_key}"},
        automation_condition=upstream_changed(again_after_own_run=True),
    )
    for a in AGGREGATES.values()
]


@multi_asset(
    name="aggregates",
    specs=SPECS,
    partitions_def=daily_partitions,
    can_subset=True,
    retry_policy=RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL),
)
def aggregate_assets_def(context: AssetExecutionContext, postgres: PostgresResource,
                         dynamodb: DynamoDBResource) -> Iterator[MaterializeResult]:
    day = date.fromisoformat(context.partition_key)
    table = get_settings().names.aggregates_table
    ddb = dynamodb.get_client()
    selected = [a for a in AGGREGATES.values() if aggregate_key(a.name) in context.selected_asset_keys]
    with postgres.connection() as conn:
        for aggregate in selected:
            items, summary = compute_and_store(conn, ddb, table, aggregate, day)
            context.log.info(f"{summary.pk}: {summary.written} items written, {summary.deleted} stale items deleted")
            yield MaterializeResult(asset_key=aggregate_key(aggregate.name), metadata={
                "items": summary.written,
                "stale_items_deleted": summary.deleted,
                "dynamodb_pk": MetadataValue.text(f"{table}: pk={summary.pk}"),
                "preview": MetadataValue.md(items_markdown(items)),
            })


aggregate_assets = [aggregate_assets_def]
