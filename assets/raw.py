"""``raw/<dataset>``: the raw files of one day in the raw bucket — an inventory, so the UI shows
what arrived (files, bytes, keys) before anything is validated."""


from datetime import date

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset
from dagster_aws.s3 import S3Resource

from pipeline_defs.batch.raw_files import list_partition_files
from pipeline_defs.contracts import CONTRACTS, Contract
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings


def file_table(files, limit: int = 50) -> str:
    lines = ["| key | bytes | etag |", "|---|---:|---|"]
    lines += [f"| `{f.key}` | {f.size:,} | `{f.etag[:12]}` |" for f in files[:limit]]
    if len(files) > limit:
        lines.append(f"| … {len(files) - limit} more | | |")
    return "\n".join(lines)


# the hot path archives its batches into these datasets' raw prefixes
FED_BY_STREAM_ARCHIVE = ("web_events", "market_ticks")


def build_raw_asset(contract: Contract) -> AssetsDefinition:
    @asset(
        key=AssetKey(["raw", contract.name]),
        deps=[AssetKey(["stream", "archive"])] if contract.name in FED_BY_STREAM_ARCHIVE else [],
        partitions_def=daily_partitions,
        group_name="raw",
        kinds={"s3"},
        description=f"Raw {contract.name} files ({', '.join(contract.prefixes)}) whose business date is the partition.",
    )
    def _raw(context: AssetExecutionContext, s3: S3Resource) -> MaterializeResult:
        partition = date.fromisoformat(context.partition_key)
        files = list_partition_files(s3.get_client(), get_settings().names.raw_bucket, contract, partition)
        context.log.info(f"{len(files)} {contract.name} file(s) for {partition}")
        return MaterializeResult(metadata={
            "files": len(files),
            "bytes": sum(f.size for f in files),
            "objects": MetadataValue.md(file_table(files)),
        })

    return _raw


raw_assets = [build_raw_asset(contract) for contract in CONTRACTS.values()]
