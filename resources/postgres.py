"""PostgreSQL as a Dagster resource: one pooled SQLAlchemy engine per process (psycopg 3)."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import psycopg

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine, create_engine

from pipeline_defs.settings import get_settings, resolve_database_url, sqlalchemy_url


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return create_engine(
        sqlalchemy_url(url), pool_size=4, max_overflow=4, pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "data-pipeline"},
    )


class PostgresResource(ConfigurableResource):
    """The warehouse database. With no URL configured, the settings' resolution applies
    (PIPELINE_DATABASE_URL → the Secrets Manager secret → the local cluster)."""

    database_url: str | None = Field(default=None, description="libpq URL; leave empty to resolve from settings")

    def url(self) -> str:
        return self.database_url or resolve_database_url(get_settings())

    def get_engine(self) -> Engine:
        return _engine(self.url())

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled psycopg connection (for COPY and explicit transactions), migrated on first use."""
        url = self.url()
        ensure_migrated(url)
        raw = _engine(url).raw_connection()
        try:
            yield raw.driver_connection
        finally:
            raw.close()


@lru_cache(maxsize=8)
def ensure_migrated(url: str) -> tuple[str, ...]:
    """Apply pending migrations once per process and database (the pipeline runs them, not people)."""
    from pipeline_defs.migrations import migrate

    return tuple(migrate(url))
