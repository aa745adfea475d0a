"""The function's configuration: the ONE module here that reads the environment.

Why not ``pipeline_defs.settings``: the Lambda bundle ships only ``pipeline_defs/contracts`` under a
stub package (infra/bundling.py), so settings is not importable inside the function. The variable
names and defaults below are the same ``PIPELINE_*`` names settings uses; a test checks they agree.
boto3 reads ``AWS_ENDPOINT_URL`` / ``AWS_REGION`` itself, so moto works without code here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


class ConfigError(RuntimeError):
    """A variable has a value the function cannot use; the message names it."""


@dataclass(frozen=True)
class Config:
    cache_table: str = "pipeline-query-cache"
    results_bucket: str = "pipeline-query-results"
    processed_bucket: str = "pipeline-processed"
    state_table: str = "pipeline-state"
    aggregates_table: str = "pipeline-aggregates"
    realtime_table: str = "pipeline-realtime"
    # database credentials, first one set wins (see db.resolve_url)
    analytics_database_url: str | None = None  # explicit URL for the API only (tests, benchmarks)
    analytics_db_secret_id: str | None = None  # the read-only secret (local stack)
    db_secret_id: str | None = None  # on AWS infra points this at the read-only secret
    database_url: str | None = None
    statement_timeout_ms: int = 15_000
    cache_ttl_seconds: int = 3_600
    large_result_bytes: int = 256_000  # over this the result goes to S3 (DynamoDB items stop at 400 KB)
    url_expiry_seconds: int = 3_600
    env_name: str = "local"


_NAMES = {
    "PIPELINE_CACHE_TABLE": "cache_table",
    "PIPELINE_RESULTS_BUCKET": "results_bucket",
    "PIPELINE_PROCESSED_BUCKET": "processed_bucket",
    "PIPELINE_STATE_TABLE": "state_table",
    "PIPELINE_AGGREGATES_TABLE": "aggregates_table",
    "PIPELINE_REALTIME_TABLE": "realtime_table",
    "PIPELINE_ANALYTICS_DATABASE_URL": "analytics_database_url",
    "PIPELINE_ANALYTICS_DB_SECRET_ID": "analytics_db_secret_id",
    "PIPELINE_DB_SECRET_ID": "db_secret_id",
    "PIPELINE_DATABASE_URL": "database_url",
    "PIPELINE_ENV": "env_name",
}
_INTS = {
    "PIPELINE_ANALYTICS_STATEMENT_TIMEOUT_MS": ("statement_timeout_ms", 100, 900_000),
    "PIPELINE_ANALYTICS_CACHE_TTL_SECONDS": ("cache_ttl_seconds", 1, 30 * 86_400),
    "PIPELINE_ANALYTICS_LARGE_RESULT_BYTES": ("large_result_bytes", 1, 300_000),
    "PIPELINE_ANALYTICS_URL_EXPIRY_SECONDS": ("url_expiry_seconds", 60, 7 * 86_400),
}


def load(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    values: dict[str, object] = {attr: env[var] for var, attr in _NAMES.items() if env.get(var)}
    for var, (attr, low, high) in _INTS.items():
        raw = env.get(var)
        if not raw:
            continue
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a whole number") from None
        if not low <= number <= high:
            raise ConfigError(f"{var}={number} is outside {low}..{high}")
        values[attr] = number
    return Config(**values)
