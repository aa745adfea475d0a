"""``validated/<dataset>``: one day's raw files checked against the contract.

Good rows are staged as Parquet for the merge (processed bucket, ``_staged/``), bad rows and files to the quarantine with a
reason each, and every file's row equation to ``ops.load_audit``. Asset checks report the equation
and how often required fields were missing.
"""


import tempfile
from datetime import date
from pathlib import Path
from typing import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from dagster_aws.s3 import S3Resource

from assets.blocking import stop_if_blocked
from pipeline_defs.batch import audit
from pipeline_defs.batch.quarantine import QuarantineSink
from pipeline_defs.batch.raw_files import list_partition_files
from pipeline_defs.batch.validate import PartitionReport, validate_partition
from pipeline_defs.contract_metadata import table_schema
from pipeline_defs.contracts import CONTRACTS, Contract
from pipeline_defs.partitions import daily_partitions
from pipeline_defs.settings import get_settings
from resources.postgres import PostgresResource

MISSING_WARN_SHARE = 0.05  # warn when more than 5% of a day's rows miss a required field


def reasons_table(report: PartitionReport, limit: int = 10) -> str:
    if not report.rows_quarantined:
        return "No rows quarantined."
    lines = ["| reason | rows |", "|---|---:|"]
    lines += [f"| `{reason}` | {count:,} |" for reason, count in report.reasons.most_common(limit)]
    return "\n".join(lines)


def files_table(report: PartitionReport) -> str:
    lines = ["| file | rows in | valid | quarantined | file rejected |", "|---|---:|---:|---:|---|"]
    lines += [f"| `{f.key}` | {f.rows_in:,} | {f.rows_valid:,} | {f.rows_quarantined:,} | {f.reason or ''} |"
              for f in report.files]
    return "\n".join(lines)


def _checks(contract: Contract, report: PartitionReport) -> list[AssetCheckResult]:
    written = report.rows_written.get(contract.table, 0)
    balanced = all(f.rows_in == f.rows_valid + f.rows_quarantined for f in report.files)
    passed = balanced and written == report.rows_valid
    equation = AssetCheckResult(
        asset_key=AssetKey(["validated", contract.name]),
        check_name="row_equation",
        passed=passed,
        metadata={"rows_in": report.rows_in, "rows_valid": report.rows_valid,
                  "rows_quarantined": report.rows_quarantined, "rows_staged": written},
        description="rows_in = rows_valid + rows_quarantined for every file, and exactly the valid rows are staged"
        if passed else "a file's rows_in differs from rows_valid + rows_quarantined" if not balanced
        else f"{written} {contract.table} rows are staged but {report.rows_valid} rows were valid",
    )
    total = max(report.rows_in, 1)
    missing = {f: report.reasons.get(f"missing:{f}", 0) / total for f in contract.required_fields}
    worst = max(missing.items(), key=lambda item: item[1], default=("", 0.0))
    presence = AssetCheckResult(
        asset_key=AssetKey(["validated", contract.name]),
        check_name="required_fields_present",
        passed=worst[1] <= MISSING_WARN_SHARE,
        severity=AssetCheckSeverity.WARN,
        metadata={f"missing_share:{name}": round(share, 4) for name, share in missing.items()},
        description=f"no required field is missing in more than {MISSING_WARN_SHARE:.0%} of the rows",
    )
    return [equation, presence]


def build_validated_asset(contract: Contract) -> AssetsDefinition:
    key = AssetKey(["validated", contract.name])
    check_specs = [
        AssetCheckSpec("row_equation", asset=key, blocking=True,
                       description="every row of every file is valid or quarantined, and the lake holds the valid"
                                   " rows; a failure blocks everything downstream"),
        AssetCheckSpec("required_fields_present", asset=key, description="required fields are rarely missing"),
    ]

    @asset(
        key=key,
        deps=[AssetKey(["raw", contract.name])],
        partitions_def=daily_partitions,
        group_name="validated",
        kinds={"parquet", "s3"},
        description=(f"{contract.description} Valid rows staged as Parquet for the merge "
                     f"(`_staged/{contract.table}/dt=…/part-*.parquet`); rejects in quarantine with reasons."),
        metadata={"dagster/column_schema": table_schema(contract), "contract_key": ", ".join(contract.key)},
        check_specs=check_specs,
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
    )
    def _validated(context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource) -> Iterator[MaterializeResult]:
        partition = date.fromisoformat(context.partition_key)
        names = get_settings().names
        client = s3.get_client()
        files = list_partition_files(client, names.raw_bucket, contract, partition)
        context.log.info(f"validating {len(files)} {contract.name} file(s) for {partition}")
        with tempfile.TemporaryDirectory(prefix=f"validate-{contract.name}-") as tmp:
            sink = QuarantineSink(Path(tmp), contract.name, partition)
            try:
                report = validate_partition(client, names.raw_bucket, names.processed_bucket, contract,
                                            partition, files, Path(tmp), sink)
            finally:
                sink.close()
            report.quarantine_keys = sink.publish_s3(client, names.raw_bucket, names.quarantine_bucket)
            with postgres.connection() as conn, conn.transaction(), conn.cursor() as cur:
                sink.publish_db(cur)
                audit.record_validation(cur, report, context.run.run_id)
        for f in report.files:
            context.log.info(f"{f.key}: {f.rows_in} in, {f.rows_valid} valid, {f.rows_quarantined} quarantined"
                             + (f" (file rejected: {f.reason})" if f.reason else ""))
        extra = report.extra_fields
        checks = _checks(contract, report)
        yield MaterializeResult(
            metadata={
                "dagster/row_count": report.rows_valid,
                "files": len(files),
                "rows_in": report.rows_in,
                "rows_valid": report.rows_valid,
                "rows_quarantined": report.rows_quarantined,
                "top_quarantine_reasons": MetadataValue.md(reasons_table(report)),
                "per_file": MetadataValue.md(files_table(report)),
                "unknown_fields_kept": MetadataValue.json(dict(extra)) if extra else "none",
                "staged": MetadataValue.json({t: [f"s3://{names.processed_bucket}/{k}" for k in keys]
                                            for t, keys in report.parquet_keys.items()}),
            },
            check_results=checks,
        )
        stop_if_blocked(check_specs, checks, f"validated/{contract.name} {partition} must not reach the warehouse")

    return _validated


validated_assets = [build_validated_asset(contract) for contract in CONTRACTS.values()]
