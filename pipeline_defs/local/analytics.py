"""The analytics API's local wiring: a read-only database login, and PartitionLoaded delivery.

* ``ensure_readonly_login``: the ``analytics_ro`` login (as on AWS, see infra/stacks/database.py),
  member of the NOLOGIN ``analytics_reader`` role that migration 0004 grants SELECT to, with a
  freshly generated password stored in the Secrets Manager secret ``<db secret>-readonly``. The
  password exists only there and in PostgreSQL (re-generated at every ``pipeline local up``).
* On AWS an EventBridge rule invokes the analytics function with each ``PartitionLoaded`` event.
  moto cannot invoke a local handler, so locally the rule targets an SQS queue and
  :class:`InvalidationPump` (run by the local gateway process) hands each event to the handler.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Callable
from urllib.parse import urlsplit

import psycopg
from botocore.exceptions import ClientError
from psycopg import sql

from pipeline_defs.aws import client
from pipeline_defs.migrations.versions import ANALYTICS_READER
from pipeline_defs.settings import Settings

READONLY_USER = "analytics_ro"  # the same login name infra creates on RDS
INVALIDATION_QUEUE = "pipeline-analytics-invalidations"
INVALIDATION_RULE = "analytics-cache-invalidation"
STATEMENT_TIMEOUT_MS = 15_000


def readonly_secret_id(settings: Settings) -> str:
    return f"{settings.names.db_secret_id}-readonly"


def ensure_readonly_login(owner_url: str, settings: Settings, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> dict:
    """Create or refresh ``analytics_ro`` and its secret; returns the secret's value."""
    password = secrets.token_urlsafe(24)
    user = sql.Identifier(READONLY_USER)
    with psycopg.connect(owner_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READONLY_USER,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(user))
        conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            user, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ANALYTICS_READER), user))
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(user, sql.Literal(statement_timeout_ms)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(user))
    parts = urlsplit(owner_url)
    secret = {"username": READONLY_USER, "password": password, "host": parts.hostname or "127.0.0.1",
              "port": parts.port or 5432, "dbname": parts.path.lstrip("/") or "pipeline"}
    sm = client("secretsmanager", settings)
    try:
        sm.put_secret_value(SecretId=readonly_secret_id(settings), SecretString=json.dumps(secret))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        sm.create_secret(Name=readonly_secret_id(settings), SecretString=json.dumps(secret),
                         Description="analytics API read-only database login")
    return secret


def ensure_invalidation_rule(settings: Settings) -> str:
    """The local stand-in for the rule → Lambda target: PartitionLoaded events → an SQS queue."""
    sqs, events = client("sqs", settings), client("events", settings)
    url = sqs.create_queue(QueueName=INVALIDATION_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = settings.names.event_bus
    events.put_rule(Name=INVALIDATION_RULE, EventBusName=bus,
                    EventPattern=json.dumps({"detail-type": ["PartitionLoaded", "AnalyticsRefreshed"]}))
    events.put_targets(Rule=INVALIDATION_RULE, EventBusName=bus, Targets=[{"Id": "analytics", "Arn": arn}])
    return url


def deliver_invalidations(settings: Settings, handler: Callable[[dict, object], object], wait_seconds: int = 0) -> int:
    """Hand every queued PartitionLoaded event to ``handler`` (as EventBridge would); returns how many."""
    sqs = client("sqs", settings)
    url = sqs.get_queue_url(QueueName=INVALIDATION_QUEUE)["QueueUrl"]
    delivered = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=wait_seconds).get("Messages", [])
        if not messages:
            return delivered
        for message in messages:
            handler(json.loads(message["Body"]), None)  # a failure leaves it queued, to be retried
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            delivered += 1
        wait_seconds = 0


class InvalidationPump(threading.Thread):
    """Background delivery for the local gateway: ``start()``, later ``stop()``."""

    def __init__(self, settings: Settings, handler: Callable[[dict, object], object], say: Callable[[str], None] = print):
        super().__init__(name="analytics-invalidations", daemon=True)
        self.settings, self.handler, self.say = settings, handler, say
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                deliver_invalidations(self.settings, self.handler, wait_seconds=1)
            except Exception as exc:  # keep pumping; the message stays queued and is retried
                self.say(f"analytics invalidation: {type(exc).__name__}: {exc}")
                self._stop_event.wait(2)

    def stop(self, timeout: float = 5) -> None:
        self._stop_event.set()
        self.join(timeout)
