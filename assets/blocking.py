"""Blocking asset checks: a failed one stops the step, with a message naming each check and its reason.

Dagster gates downstream steps on a failed blocking check by itself; raising here as well lets the
step stop *before* it writes (``assets/warehouse.py`` checks the staged partition, then merges),
and puts the reason — not only the check's name — in the run's failure and the alert.
"""

from typing import Iterable

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, Failure, MetadataValue


def stop_if_blocked(specs: Iterable[AssetCheckSpec], results: Iterable[AssetCheckResult], consequence: str) -> None:
    """Raise a non-retried :class:`Failure` when a blocking check among ``results`` failed with ERROR severity."""
    blocking = {(spec.asset_key, spec.name) for spec in specs if spec.blocking}
    failed = [r for r in results if not r.passed and r.severity == AssetCheckSeverity.ERROR
              and (r.asset_key, r.check_name) in blocking]
    if not failed:
        return
    lines = [f"{r.asset_key.to_user_string()} {r.check_name}: {r.description or 'failed'}" for r in failed]
    raise Failure(
        description=f"blocking check failed — {consequence}: " + "; ".join(lines),  # one line: the alert's
        metadata={"failed_checks": MetadataValue.json({
            f"{r.asset_key.to_user_string()}:{r.check_name}": r.description for r in failed})},
        allow_retries=False,  # the same data fails the same way: retrying only delays the alert
    )
