"""Context knobs of the CDK app, each with its documented default, and the deployed names.

Set a knob with ``cdk synth -c shardCount=4`` (or ``"context": {"shardCount": 4}`` in cdk.json); the
context key is the camelCase form of the field name. Names of buckets, queues, tables, ... are never
typed here: they come from :class:`pipeline_defs.settings.ResourceNames` with the environment woven
in, and reach Lambdas and ECS tasks through the same ``PIPELINE_*`` variables as locally.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from pipeline_defs.settings import RESOURCE_ENV, ResourceNames, StreamSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = REPO_ROOT / "infra"
ACCOUNT_SUFFIX = "account"  # bucketSuffix value meaning "append the AWS account id"


class ConfigError(ValueError):
    """A context value that cannot be used; the message names the knob."""


@dataclass(frozen=True)
class InfraConfig:
    # -- deployment ------------------------------------------------------------------------
    env: str = "dev"  # woven into every name: pipeline-raw -> pipeline-<env>-raw
    account: str | None = None  # default: the CLI's CDK_DEFAULT_ACCOUNT, else account-agnostic
    region: str = "us-east-1"  # default: the CLI's CDK_DEFAULT_REGION; ALB access logs need one
    bucket_suffix: str = ACCOUNT_SUFFIX  # bucket names are global: "account", a literal, or ""
    retain_data: bool = True  # buckets/tables/DB survive `cdk destroy` (+ RDS deletion protection)
    # -- network ---------------------------------------------------------------------------
    vpc_cidr: str = "10.40.0.0/16"
    max_azs: int = 2
    nat_gateways: int = 0  # AWS APIs go through VPC endpoints; NAT only for internet egress
    # -- stream (defaults: pipeline_defs.settings.StreamSettings, what the local poller honours) ---
    shard_count: int = StreamSettings.shards
    stream_retention_hours: int = 24
    batch_size: int = StreamSettings.batch_size  # Kinesis -> processor event source mapping (100)
    batch_window_seconds: int = int(StreamSettings.batch_window_seconds)  # 5
    parallelization_factor: int = StreamSettings.parallelization_factor  # 2
    retry_attempts: int = StreamSettings.retry_attempts  # before a batch goes to the on-failure queue
    max_record_age_seconds: int = StreamSettings.max_record_age_seconds
    bisect_on_error: bool = StreamSettings.bisect_on_error
    # -- lambda ----------------------------------------------------------------------------
    lambda_memory_mb: int = 512
    lambda_timeout_seconds: int = 30
    analytics_memory_mb: int = 1024
    analytics_timeout_seconds: int = 29  # API Gateway's integration limit
    source_root: str = str(REPO_ROOT)  # holds infra/functions/<name>/ and pipeline_defs/contracts/
    lambda_deps_cache: str = str(INFRA_DIR / ".build" / "lambda-deps")
    lambda_deps_offline: bool = False  # never run pip; fail if a requirements set is not cached
    lambda_wheelhouse: str = ""  # pip --no-index --find-links <dir> instead of PyPI
    # -- api -------------------------------------------------------------------------------
    api_auth: str = "iam"  # "iam" (SigV4) or "api_key" (x-api-key header + usage plan)
    api_rate_limit: int = 100  # requests/s per stage
    api_burst_limit: int = 200
    # -- database --------------------------------------------------------------------------
    db_instance_class: str = "t4g.small"
    db_allocated_storage_gb: int = 20
    db_max_allocated_storage_gb: int = 100
    db_multi_az: bool | None = None  # default: true when env == "prod"
    db_port: int = 5433  # not the engine default, so scanners looking for 5432 miss it
    db_backup_days: int = 7
    db_rotation_days: int = 30
    analytics_statement_timeout_ms: int = 15_000
    # -- storage lifecycle -----------------------------------------------------------------
    raw_ia_days: int = 30
    raw_glacier_days: int = 90
    raw_noncurrent_days: int = 90
    processed_ia_days: int = 90
    quarantine_expire_days: int = 365
    access_logs_expire_days: int = 365
    log_retention_days: int = 30  # every CloudWatch log group (Lambda, ECS, API, VPC flow, RDS)
    # -- orchestration ---------------------------------------------------------------------
    dagster_ui_cidr: str = ""  # who may reach the internal ALB (default: the VPC CIDR)
    webserver_cpu: int = 512
    webserver_memory_mb: int = 1024
    daemon_cpu: int = 512
    daemon_memory_mb: int = 1024
    code_server_cpu: int = 512
    code_server_memory_mb: int = 1024
    run_cpu: int = 1024
    run_memory_mb: int = 2048
    # -- monitoring ------------------------------------------------------------------------
    alert_email: str = ""  # subscribed to the alerts topic when set
    iterator_age_alarm_seconds: int = 60
    duration_p99_alarm_ratio: float = 0.8  # of the function timeout
    rds_cpu_alarm_percent: int = 80
    stale_after_hours: int = 24  # no PartitionLoaded event for this long -> alarm (hourly periods, <= 24)

    @classmethod
    def from_context(cls, get: Any) -> "InfraConfig":
        """Build from a ``node.try_get_context``-like callable (camelCase keys)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = get(_camel(f.name))
            if raw is None:
                continue
            default = f.default if f.default is not MISSING else None
            values[f.name] = _coerce(f.name, raw, default, f.type)
        config = cls(**values)
        config.validate()
        return config

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> "InfraConfig":
        return cls.from_context(context.get)

    def validate(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,11}", self.env):
            raise ConfigError(f"env={self.env!r}: use 1-12 lower-case letters, digits or '-'")
        if self.api_auth not in ("iam", "api_key"):
            raise ConfigError(f"apiAuth={self.api_auth!r}: use 'iam' or 'api_key'")
        if not 1 <= self.batch_size <= 10_000:
            raise ConfigError(f"batchSize={self.batch_size}: Kinesis allows 1..10000")
        if not 0 <= self.batch_window_seconds <= 300:
            raise ConfigError(f"batchWindowSeconds={self.batch_window_seconds}: allowed 0..300")
        if not 1 <= self.parallelization_factor <= 10:
            raise ConfigError(f"parallelizationFactor={self.parallelization_factor}: allowed 1..10")
        if self.raw_glacier_days <= self.raw_ia_days:
            raise ConfigError("rawGlacierDays must be greater than rawIaDays")
        if not 1 <= self.stale_after_hours <= 24:
            raise ConfigError(f"staleAfterHours={self.stale_after_hours}: allowed 1..24 (CloudWatch's window)")
        retention_days(self.log_retention_days)  # raises for a value CloudWatch does not offer

    # -- names ---------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return f"pipeline-{self.env}"

    @property
    def multi_az(self) -> bool:
        return self.env == "prod" if self.db_multi_az is None else self.db_multi_az

    def names(self, account_token: str) -> ResourceNames:
        """ResourceNames with the env woven in; buckets also get the account (or literal) suffix."""
        suffix = account_token if self.bucket_suffix == ACCOUNT_SUFFIX else self.bucket_suffix
        base = ResourceNames()
        values = {}
        for f in fields(ResourceNames):
            name = _with_env(getattr(base, f.name), self.env)
            if f.name.endswith("_bucket") and suffix:
                name = f"{name}-{suffix}"
            values[f.name] = name
        return ResourceNames(**values)

    def extra_bucket(self, purpose: str, account_token: str) -> str:
        """Buckets only infra knows about (access logs, Dagster's compute logs)."""
        suffix = account_token if self.bucket_suffix == ACCOUNT_SUFFIX else self.bucket_suffix
        return f"{self.prefix}-{purpose}" + (f"-{suffix}" if suffix else "")

    def function_name(self, function: str) -> str:
        return f"{self.prefix}-{function.replace('_', '-')}"

    @property
    def readonly_secret_id(self) -> str:
        """The analytics API's read-only credentials; it reads them through PIPELINE_DB_SECRET_ID."""
        return f"{self.names('').db_secret_id}-readonly"

    @property
    def cluster_name(self) -> str:
        return f"{self.prefix}-dagster"

    def dagster_service(self, kind: str) -> str:
        """ECS service names (webserver, daemon, code-server); alarms address them by name."""
        return f"{self.prefix}-dagster-{kind}"

    @property
    def db_instance_id(self) -> str:
        return f"{self.prefix}-db"

    @property
    def api_name(self) -> str:
        return f"{self.prefix}-api"

    def stack_name(self, part: str) -> str:
        return f"{self.prefix}-{part}"


def env_for(names: ResourceNames, *attrs: str) -> dict[str, str]:
    """``PIPELINE_*`` variables for the given ResourceNames attributes, spelled as settings reads them."""
    by_attr = {attr: var for var, attr in RESOURCE_ENV.items()}
    missing = [a for a in attrs if a not in by_attr]
    if missing:
        raise KeyError(f"no PIPELINE_* variable for {missing}; see pipeline_defs.settings.RESOURCE_ENV")
    return {by_attr[a]: getattr(names, a) for a in attrs}


_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
    1096: "THREE_YEARS", 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS",
}


def retention_days(days: int):
    """The CloudWatch Logs retention enum member for ``days`` (only AWS's fixed values exist)."""
    from aws_cdk import aws_logs as logs

    if days not in _RETENTION:
        raise ConfigError(f"logRetentionDays={days}: CloudWatch offers {sorted(_RETENTION)}")
    return getattr(logs.RetentionDays, _RETENTION[days])


def _with_env(name: str, env: str) -> str:
    if not env:
        return name
    if name.startswith("pipeline"):
        return f"pipeline-{env}{name[len('pipeline'):]}"
    return f"{env}-{name}"


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _coerce(name: str, raw: Any, default: Any, annotation: Any) -> Any:
    """Context from ``-c`` arrives as strings, from cdk.json as JSON values; accept both."""
    kind = str(annotation)
    try:
        if "bool" in kind:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if "float" in kind:
            return float(raw)
        if "int" in kind:
            return int(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{_camel(name)}={raw!r} is not a valid {kind} (default {default!r})") from None


def knobs() -> dict[str, Any]:
    """camelCase knob -> default, for docs and tests."""
    return {_camel(f.name): f.default for f in fields(InfraConfig) if f.default is not MISSING}


__all__ = ["InfraConfig", "ConfigError", "env_for", "retention_days", "knobs", "REPO_ROOT"]
