"""The Dagster code location: every asset, check, job and resource of data-pipeline.

Loaded by `dagster dev -w workspace.yaml`, `dg dev` ([tool.dg] in pyproject.toml) and the
ECS code server on AWS.
"""

from __future__ import annotations

from dagster import Definitions

from assets.raw import raw_assets
from assets.validated import validated_assets
from assets.warehouse import warehouse_assets
from pipeline_defs.jobs import load_jobs
from pipeline_defs.resources import build_resources
from pipeline_defs.settings import get_settings

defs = Definitions(
    assets=[*raw_assets, *validated_assets, *warehouse_assets],
    jobs=load_jobs,
    resources=build_resources(get_settings()),
)
