"""Data-quality score per dataset and day: how much of what arrived was loaded, and which checks pass.

score = the average of "% of rows loaded" and "% of checks passed", 0–100; no score on a day with
no files for the dataset. The checks are the warehouse asset checks' own queries (key uniqueness,
orphans) plus the audit's row equation, re-run here so the figure does not depend on Dagster's
event log. Dataset, table and column names come from the contracts and the checks' allow-list.
"""

from __future__ import annotations

from datetime import date

from pipeline_defs.aggregates.queries import rows
from pipeline_defs.batch.checks import duplicate_keys, orphans, references_of
from pipeline_defs.contracts import CONTRACTS, Contract

TOP_REASONS = 5


def _tables(contract: Contract) -> list[tuple[str, tuple[str, ...]]]:
    return [(contract.table, tuple(contract.key)), *((c.table, tuple(c.key)) for c in contract.children)]


def _checks(cur, contract: Contract, day: date, totals: dict) -> dict[str, bool]:
    results = {"rows_balance": totals["rows_in"] == totals["rows_loaded"] + totals["rows_quarantined"]}
    for table, key in _tables(contract):
        results[f"key_unique:{table}"] = duplicate_keys(cur, table, key, day) == 0
        for column in references_of(table):
            results[f"no_orphan:{table}.{column}"] = orphans(cur, table, column, day)[0] == 0
    return results


def score(rows_in: int, rows_loaded: int, checks_passed: int, checks_total: int) -> float:
    loaded_pct = 100.0 * rows_loaded / rows_in if rows_in else 0.0
    checks_pct = 100.0 * checks_passed / checks_total if checks_total else 100.0
    return round((loaded_pct + checks_pct) / 2, 1)


def dataset_quality(cur, contract: Contract, day: date) -> dict:
    """One dataset's item: files, rows, top quarantine reasons, checks and score."""
    params = {"dataset": contract.name, "day": day, "top": TOP_REASONS}
    (totals,) = rows(cur, """
        SELECT count(*) AS files,
               count(*) FILTER (WHERE status = 'quarantined') AS files_rejected,
               count(*) FILTER (WHERE status = 'loaded') AS files_loaded,
               coalesce(sum(rows_in), 0)::bigint AS rows_in, coalesce(sum(rows_loaded), 0)::bigint AS rows_loaded,
               coalesce(sum(rows_quarantined), 0)::bigint AS rows_quarantined
        FROM ops.load_audit WHERE dataset = %(dataset)s AND partition_date = %(day)s""", params)
    reasons = rows(cur, """
        SELECT reason, count(*) AS records FROM ops.quarantine
        WHERE dataset = %(dataset)s AND partition_date = %(day)s
        GROUP BY reason ORDER BY count(*) DESC, reason LIMIT %(top)s""", params)
    item = {"sk": contract.name, "dataset": contract.name, **totals,
            "top_reasons": [{"reason": r["reason"], "records": r["records"]} for r in reasons]}
    if not totals["files"]:
        return {**item, "status": "no data", "checks_total": 0, "checks_passed": 0, "failed_checks": []}
    checks = _checks(cur, contract, day, totals)
    passed = sum(checks.values())
    return {
        **item, "status": "scored",
        "loaded_pct": round(100.0 * totals["rows_loaded"] / totals["rows_in"], 2) if totals["rows_in"] else 0.0,
        "checks_total": len(checks), "checks_passed": passed,
        "failed_checks": sorted(name for name, ok in checks.items() if not ok),
        "score": score(totals["rows_in"], totals["rows_loaded"], passed, len(checks)),
    }


def data_quality(cur, day: date) -> list[dict]:
    """Every contract's quality item for the day (datasets without files say so)."""
    return [dataset_quality(cur, contract, day) for contract in CONTRACTS.values()]
