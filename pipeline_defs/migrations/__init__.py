"""Versioned database migrations, applied by the pipeline itself (never by hand).

Each migration is a numbered function in :mod:`pipeline_defs.migrations.versions`; applied
versions are recorded in ``ops.schema_migrations``. An advisory lock serialises concurrent
runs (several Dagster runs may start at once), so each version is applied exactly once. After
them, the warehouse tables are compared with the contracts (:mod:`pipeline_defs.migrations.drift`):
a contract changed without its migration raises :class:`SchemaDrift` naming the column and the fix.
"""

from __future__ import annotations

import psycopg

from pipeline_defs.migrations.drift import SchemaDrift, check_schema
from pipeline_defs.migrations.versions import MIGRATIONS

_LOCK_ID = 7_310_001  # arbitrary, constant: the advisory lock that guards migrations


def pending(conn: psycopg.Connection) -> list[str]:
    conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM ops.schema_migrations")}
    return [version for version, _ in MIGRATIONS if version not in done]


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration, each in its own transaction, then check the warehouse tables
    against the contracts (raises :class:`SchemaDrift`); returns the versions applied."""
    applied: list[str] = []
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            todo = set(pending(conn))
            conn.commit()
            for version, apply in MIGRATIONS:
                if version not in todo:
                    continue
                with conn.transaction():
                    apply(conn)
                    conn.execute("INSERT INTO ops.schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
            check_schema(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
            conn.commit()
    return applied


__all__ = ["SchemaDrift", "migrate", "pending"]
