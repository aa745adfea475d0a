"""Jobs: one per dataset that takes a day's raw files all the way into the warehouse."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

from pipeline_defs.contracts import CONTRACTS, Contract


def load_job_name(dataset: str) -> str:
    return f"load_{dataset}"


def dataset_keys(contract: Contract) -> list[AssetKey]:
    keys = [AssetKey(["raw", contract.name]), AssetKey(["validated", contract.name])]
    return keys + [AssetKey(["warehouse", t]) for t in (contract.table, *(c.table for c in contract.children))]


def dataset_selection(contract: Contract) -> AssetSelection:
    return AssetSelection.assets(*dataset_keys(contract))


load_jobs = [
    define_asset_job(
        name=load_job_name(contract.name),
        selection=dataset_selection(contract),
        description=f"raw → validated → warehouse for {contract.name}, one day",
    )
    for contract in CONTRACTS.values()
]
