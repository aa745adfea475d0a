"""Read-only database sessions: credentials from Secrets Manager or the environment, never code.

Every session runs as ``analytics_reader`` (``SET ROLE`` when the login is a member: the local owner
login and the ``analytics_ro`` login both are), in READ ONLY REPEATABLE READ transactions (one
snapshot per answer) with ``statement_timeout``. One connection is kept per warm Lambda; a lock
serialises it when the local gateway serves requests from several threads.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Callable, Iterator
from urllib.parse import quote

import psycopg
from psycopg.rows import dict_row

from .config import Config
from .errors import Unavailable

READER_ROLE = "analytics_reader"  # created by migration 0004_analytics_reader
CONNECT_TIMEOUT_S = 5
# The answers are small aggregates over rollups and indexes: JIT compilation (~0.5 s a query) costs
# more than it saves, and hashes/sorts of a few hundred thousand rows should not spill to disk.
SESSION_TUNING = " -c jit=off -c work_mem=64MB"


class QueryTimeout(Unavailable):
    code = "query_timeout"


def url_from_secret(value: str) -> str:
    secret = json.loads(value)
    user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
    return (f"postgresql://{user}:{password}@{secret['host']}:{secret.get('port', 5432)}"
            f"/{secret.get('dbname', 'pipeline')}")


class Database:
    def __init__(self, config: Config, secrets_client: Callable[[], object]):
        self.config = config
        self._secrets_client = secrets_client
        self._url: str | None = None
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self.has_trgm = False

    def _resolve_url(self) -> str:
        c = self.config
        if c.analytics_database_url:
            return c.analytics_database_url
        secret_id = c.analytics_db_secret_id or c.db_secret_id
        if secret_id:
            try:
                value = self._secrets_client().get_secret_value(SecretId=secret_id)["SecretString"]
                return url_from_secret(value)
            except Exception as exc:  # any AWS or parse failure means: no database for now
                raise Unavailable(f"cannot read the database credentials ({type(exc).__name__})") from exc
        if c.database_url:
            return c.database_url
        raise Unavailable("no database configured (PIPELINE_DB_SECRET_ID or PIPELINE_DATABASE_URL)")

    def _connect(self) -> psycopg.Connection:
        if self._url is None:
            self._url = self._resolve_url()
        options = (f"-c statement_timeout={self.config.statement_timeout_ms} -c default_transaction_read_only=on"
                   " -c default_transaction_isolation=repeatable\\ read -c TimeZone=UTC" + SESSION_TUNING)
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   options=options, application_name="analytics-api", row_factory=dict_row)
        except psycopg.OperationalError as exc:
            self._url = None  # a rotated password: read the secret again next time
            raise Unavailable("the database is unreachable; try again shortly") from exc
        member = conn.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(r)s)"
            " THEN pg_has_role(current_user, %(r)s, 'MEMBER') ELSE false END AS m", {"r": READER_ROLE}).fetchone()
        if member["m"]:
            conn.execute(f"SET ROLE {READER_ROLE}")  # a constant, not input
        self.has_trgm = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS t").fetchone()["t"]
        return conn

    @contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor]:
        """A cursor inside one read-only snapshot; database trouble becomes a 503."""
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except psycopg.errors.QueryCanceled as exc:
                raise QueryTimeout(f"the query ran longer than {self.config.statement_timeout_ms} ms "
                                   "(statement_timeout); narrow the parameters or try later") from exc
            except psycopg.OperationalError as exc:
                self.close_locked()
                raise Unavailable("the database connection failed; try again shortly") from exc

    def close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()
