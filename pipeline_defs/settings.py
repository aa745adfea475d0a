"""The one place that reads the environment.

Everything configurable is a ``PIPELINE_*`` variable (plus boto3's own ``AWS_*``).  Other modules
ask :func:`get_settings` and never touch ``os.environ``; tests build :class:`Settings` directly or
through :func:`load_settings` with an explicit mapping.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from pipeline_defs.contracts.limits import Limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """A configuration problem a user can fix; the message says how."""


# env var name -> ResourceNames attribute, so `pipeline local env`, infra and tests agree on spelling.
RESOURCE_ENV: dict[str, str] = {
    "PIPELINE_RAW_BUCKET": "raw_bucket",
    "PIPELINE_PROCESSED_BUCKET": "processed_bucket",
    "PIPELINE_QUARANTINE_BUCKET": "quarantine_bucket",
    "PIPELINE_REPORTS_BUCKET": "reports_bucket",
    "PIPELINE_RESULTS_BUCKET": "results_bucket",
    "PIPELINE_UPLOADS_QUEUE": "uploads_queue",
    "PIPELINE_UPLOADS_DLQ": "uploads_dlq",
    "PIPELINE_STREAM_FAILURES_QUEUE": "stream_failures_queue",
    "PIPELINE_EVENTS_STREAM": "events_stream",
    "PIPELINE_STATE_TABLE": "state_table",
    "PIPELINE_AGGREGATES_TABLE": "aggregates_table",
    "PIPELINE_REALTIME_TABLE": "realtime_table",
    "PIPELINE_MARKET_TABLE": "market_table",
    "PIPELINE_SEEN_TABLE": "seen_table",
    "PIPELINE_CACHE_TABLE": "cache_table",
    "PIPELINE_ALERTS_TOPIC": "alerts_topic",
    "PIPELINE_REPORTS_TOPIC": "reports_topic",
    "PIPELINE_EVENT_BUS": "event_bus",
    "PIPELINE_DB_SECRET_ID": "db_secret_id",
}


@dataclass(frozen=True)
class ResourceNames:
    """Names of every AWS resource the pipeline uses; the same names locally, in infra/ and on AWS."""

    raw_bucket: str = "pipeline-raw"
    processed_bucket: str = "pipeline-processed"
    quarantine_bucket: str = "pipeline-quarantine"
    reports_bucket: str = "pipeline-reports"
    results_bucket: str = "pipeline-query-results"
    uploads_queue: str = "pipeline-uploads"
    uploads_dlq: str = "pipeline-uploads-dlq"
    stream_failures_queue: str = "pipeline-stream-failures"
    events_stream: str = "pipeline-events"
    state_table: str = "pipeline-state"
    aggregates_table: str = "pipeline-aggregates"
    realtime_table: str = "pipeline-realtime"
    market_table: str = "pipeline-market-state"
    seen_table: str = "pipeline-realtime-seen"
    cache_table: str = "pipeline-query-cache"
    alerts_topic: str = "pipeline-alerts"
    reports_topic: str = "pipeline-reports"
    event_bus: str = "pipeline-events"
    db_secret_id: str = "pipeline/database"

    def as_env(self) -> dict[str, str]:
        return {var: getattr(self, attr) for var, attr in RESOURCE_ENV.items()}


@dataclass(frozen=True)
class LocalPorts:
    moto: int = 4566
    gateway: int = 8787
    dagster: int = 3000
    postgres: int = 5433


@dataclass(frozen=True)
class StreamSettings:
    """How Kinesis records reach the stream processor: the event source mapping's knobs on AWS
    (infra/config.py has the same defaults), and what the local poller honours (PIPELINE_STREAM_*)."""

    shards: int = 1  # shards of the local stream (provisioning)
    batch_size: int = 100
    batch_window_seconds: float = 5.0
    parallelization_factor: int = 2  # concurrent batches per shard; order is kept per partition key
    retry_attempts: int = 3  # then the batch goes to the on-failure queue
    bisect_on_error: bool = True
    max_record_age_seconds: int = 86_400
    poll_interval_seconds: float = 0.5  # how often the local poller reads an idle shard


@dataclass(frozen=True)
class Settings:
    names: ResourceNames = ResourceNames()
    ports: LocalPorts = LocalPorts()
    local_dir: Path = PROJECT_ROOT / ".local"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    aws_credentials: tuple[str, str] | None = None  # explicit (key id, secret); else boto3's own chain
    database_url: str | None = None
    db_secret_from_env: bool = False  # True when PIPELINE_DB_SECRET_ID was set explicitly
    api_url: str | None = None
    dagster_url: str | None = None
    env_name: str = "local"
    upload_sensors: tuple[str, ...] = ("sqs",)  # which upload sensors start RUNNING: sqs, s3 (or none)
    s3_sensor_lookback_days: int = 7
    automation_interval_seconds: int = 30  # how often the automation-condition sensor evaluates (sensors/automation.py)
    stream: StreamSettings = StreamSettings()
    limits: Limits = Limits()

    @property
    def local_postgres_dir(self) -> Path:
        return self.local_dir / "postgres"

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value


def _stream(env: Mapping[str, str]) -> StreamSettings:
    d = StreamSettings()
    bisect = (env.get("PIPELINE_STREAM_BISECT") or "true").strip().lower()
    if bisect not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"PIPELINE_STREAM_BISECT={bisect!r}: use true or false")
    stream = StreamSettings(
        shards=_int(env, "PIPELINE_STREAM_SHARDS", d.shards),
        batch_size=_int(env, "PIPELINE_STREAM_BATCH_SIZE", d.batch_size),
        batch_window_seconds=_float(env, "PIPELINE_STREAM_BATCH_WINDOW_SECONDS", d.batch_window_seconds),
        parallelization_factor=_int(env, "PIPELINE_STREAM_PARALLELIZATION", d.parallelization_factor),
        retry_attempts=_int(env, "PIPELINE_STREAM_RETRY_ATTEMPTS", d.retry_attempts),
        bisect_on_error=bisect in ("true", "1", "yes"),
        max_record_age_seconds=_int(env, "PIPELINE_STREAM_MAX_RECORD_AGE_SECONDS", d.max_record_age_seconds),
        poll_interval_seconds=_float(env, "PIPELINE_STREAM_POLL_SECONDS", d.poll_interval_seconds),
    )
    if not 1 <= stream.batch_size <= 10_000 or not 1 <= stream.parallelization_factor <= 10 or stream.shards < 1:
        raise SettingsError("PIPELINE_STREAM_BATCH_SIZE must be 1..10000, PIPELINE_STREAM_PARALLELIZATION 1..10 "
                            "and PIPELINE_STREAM_SHARDS at least 1 (Lambda's limits)")
    return stream


# --- hard limits on input files and records (reasons in pipeline_defs/contracts/limits.py) ---------
LIMIT_ENV: dict[str, str] = {
    "PIPELINE_MAX_FILE_BYTES": "file_bytes",  # decompressed bytes per file → too_large:decompressed
    "PIPELINE_MAX_RECORD_CHARS": "record_chars",  # a line / CSV row / JSON array element → too_large:record
    "PIPELINE_MAX_COLUMNS": "columns",  # CSV header cells / keys of a record → too_large:columns
    "PIPELINE_MAX_NUMBER_DIGITS": "number_digits",  # a JSON number literal → invalid:<field>
    "PIPELINE_MAX_JSON_DEPTH": "json_depth",  # nesting of a record → too_deep:json
    "PIPELINE_MAX_EXTRA_CHARS": "extra_chars",  # unknown fields as JSON → too_large:extra
}


def _limits(env: Mapping[str, str]) -> Limits:
    values = {}
    for var, attr in LIMIT_ENV.items():
        raw = (env.get(var) or "").replace("_", "")
        if not raw:
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise SettingsError(f"{var}={env[var]!r} must be a whole number of at least 1")
        values[attr] = int(raw)
    limits = replace(Limits(), **values)
    if limits.number_digits > 4300:
        raise SettingsError("PIPELINE_MAX_NUMBER_DIGITS must be at most 4300 (Python's integer conversion limit)")
    if limits.json_depth > 500:
        raise SettingsError("PIPELINE_MAX_JSON_DEPTH must be at most 500 (the parsers recurse)")
    return limits


def _sensors(raw: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in raw.split(",") if part.strip() and part.strip() != "none")
    unknown = set(chosen) - {"sqs", "s3"}
    if unknown:
        raise SettingsError(f"PIPELINE_UPLOAD_SENSORS={raw!r}: unknown sensor(s) {sorted(unknown)}; use sqs, s3 or none")
    return chosen


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    names_kwargs = {attr: env[var] for var, attr in RESOURCE_ENV.items() if env.get(var)}
    ports = LocalPorts(
        moto=_int(env, "PIPELINE_MOTO_PORT", LocalPorts.moto),
        gateway=_int(env, "PIPELINE_GATEWAY_PORT", LocalPorts.gateway),
        dagster=_int(env, "PIPELINE_DAGSTER_PORT", LocalPorts.dagster),
        postgres=_int(env, "PIPELINE_PG_PORT", LocalPorts.postgres),
    )
    local_dir = Path(env["PIPELINE_LOCAL_DIR"]) if env.get("PIPELINE_LOCAL_DIR") else Settings.local_dir
    return Settings(
        names=ResourceNames(**names_kwargs),
        ports=ports,
        local_dir=local_dir.resolve(),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or Settings.aws_region,
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        database_url=env.get("PIPELINE_DATABASE_URL") or None,
        db_secret_from_env=bool(env.get("PIPELINE_DB_SECRET_ID")),
        api_url=env.get("PIPELINE_API_URL") or None,
        dagster_url=env.get("PIPELINE_DAGSTER_URL") or None,
        env_name=env.get("PIPELINE_ENV") or "local",
        upload_sensors=_sensors(env.get("PIPELINE_UPLOAD_SENSORS", "sqs")),
        s3_sensor_lookback_days=_int(env, "PIPELINE_S3_SENSOR_LOOKBACK_DAYS", 7),
        automation_interval_seconds=_int(env, "PIPELINE_AUTOMATION_INTERVAL_SECONDS", 30),
        stream=_stream(env),
        limits=_limits(env),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def url_from_secret(secret: Mapping[str, object]) -> str:
    """A libpq URL from an RDS-style secret ({username, password, host, port, dbname})."""
    try:
        user = quote(str(secret["username"]), safe="")
        password = quote(str(secret["password"]), safe="")
        host = secret["host"]
    except KeyError as missing:
        raise SettingsError(f"database secret lacks the field {missing}") from None
    port = secret.get("port", 5432)
    dbname = secret.get("dbname", "pipeline")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}"


def resolve_database_url(settings: Settings, secrets_client=None) -> str:
    """PIPELINE_DATABASE_URL, else the Secrets Manager secret, else the local cluster's URL."""
    if settings.database_url:
        return settings.database_url
    if settings.db_secret_from_env:
        if secrets_client is None:
            from pipeline_defs.aws import client

            secrets_client = client("secretsmanager", settings)
        try:
            value = secrets_client.get_secret_value(SecretId=settings.names.db_secret_id)["SecretString"]
        except Exception as exc:  # botocore errors vary by cause; the message is what matters
            raise SettingsError(
                f"cannot read database secret {settings.names.db_secret_id!r}: {exc}"
            ) from exc
        return url_from_secret(json.loads(value))
    from pipeline_defs.local.postgres import local_database_url

    url = local_database_url(settings)
    if url is None:
        raise SettingsError(
            "no database configured: set PIPELINE_DATABASE_URL or PIPELINE_DB_SECRET_ID, "
            "or start the local stack with `pipeline local up`"
        )
    return url


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy with the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise SettingsError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}")
