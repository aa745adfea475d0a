"""boto3 clients built from settings, so the endpoint (moto locally, AWS in the cloud) is decided once.

Clients are made once per process and configuration: each new boto3 session re-reads botocore's
endpoint rules and service models (MBs of JSON), which cost a 1M-row run seconds when every asset
step built its own. boto3 clients are thread-safe; sessions are not, so creation is locked.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

from pipeline_defs.settings import Settings, get_settings

_lock = threading.Lock()
_sessions: dict[tuple, boto3.session.Session] = {}
_clients: dict[tuple, Any] = {}


def shared_client(service: str, *, profile_name: str | None = None, max_attempts: int = 5,
                  timeouts: bool = False, **kwargs: Any) -> Any:
    """The process's boto3 client for ``service`` with exactly these settings (made on first use).

    ``kwargs`` are boto3 ``client()`` keywords (region, endpoint, credentials, TLS); ``timeouts``
    adds short connect and read timeouts for callers that must not hang.
    """
    pid = os.getpid()  # a forked child must not reuse its parent's connections
    key = (pid, service, profile_name, max_attempts, timeouts, tuple(sorted(kwargs.items())))
    with _lock:
        found = _clients.get(key)
        if found is None:
            session = _sessions.get((pid, profile_name))
            if session is None:
                session = _sessions[(pid, profile_name)] = boto3.session.Session(profile_name=profile_name)
            extra = {"connect_timeout": 5, "read_timeout": 30} if timeouts else {}
            if service == "s3":  # presigned URLs in SigV4 (botocore presigns SigV2 by default)
                extra["signature_version"] = "s3v4"
            config = Config(retries={"max_attempts": max_attempts, "mode": "standard"}, **extra)
            found = _clients[key] = session.client(service, config=config, **kwargs)
    return found


def client(service: str, settings: Settings | None = None):
    """A boto3 client for ``service`` pointed at the configured endpoint and region."""
    settings = settings or get_settings()
    credentials = {}
    if settings.aws_credentials:
        credentials = {"aws_access_key_id": settings.aws_credentials[0],
                       "aws_secret_access_key": settings.aws_credentials[1]}
    return shared_client(service, timeouts=True, region_name=settings.aws_region,
                         endpoint_url=settings.aws_endpoint_url, **credentials)


def sns_topic_arn(sns, topic_name: str, account_id: str) -> str:
    """An SNS topic's ARN, built rather than listed: the pipeline's role may publish but not list topics."""
    return f"arn:{sns.meta.partition}:sns:{sns.meta.region_name}:{account_id}:{topic_name}"


def topic_arn(settings: Settings, topic_name: str) -> str:
    """The same, with the account looked up from the caller's identity."""
    account = client("sts", settings).get_caller_identity()["Account"]
    return sns_topic_arn(client("sns", settings), topic_name, account)
