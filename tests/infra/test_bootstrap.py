"""infra/dagster/bootstrap.py against a real PostgreSQL: the read-only analytics role and the
`dagster` instance-storage role, created idempotently by the code server on AWS."""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from infra.dagster.bootstrap import main as bootstrap_main
from infra.dagster.bootstrap import ensure_roles


def _as(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password)}@{host}"))


def test_roles_are_idempotent_read_only_and_time_limited(database_url):
    suffix = uuid.uuid4().hex[:8]
    ro, dagster, password = f"ro_{suffix}", f"dg_{suffix}", f"pw-{suffix}-Aa1"
    with psycopg.connect(database_url, autocommit=True) as admin:
        try:
            for _ in range(2):  # every code-server start re-applies it
                done = ensure_roles(admin, readonly_user=ro, readonly_password=password,
                                    statement_timeout_ms=1234, dagster_role=dagster)
            assert not [line for line in done if line.startswith("created")]  # second pass creates nothing
            admin.execute("CREATE TABLE warehouse.after_bootstrap (id int)")  # default privileges apply
            admin.execute("INSERT INTO warehouse.after_bootstrap VALUES (1)")
            owner = admin.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s",
                                  [dagster]).fetchone()
            assert owner == (dagster,)

            with psycopg.connect(_as(database_url, ro, password), autocommit=True) as reader:
                assert reader.execute("SHOW statement_timeout").fetchone()[0] == "1234ms"
                assert reader.execute("SELECT count(*) FROM warehouse.after_bootstrap").fetchone() == (1,)
                reader.execute("SELECT count(*) FROM ops.load_audit").fetchone()
                with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                    reader.execute("INSERT INTO warehouse.after_bootstrap VALUES (2)")
                reader.execute("SET default_transaction_read_only = off")  # the default is not the fence
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    reader.execute("INSERT INTO warehouse.after_bootstrap VALUES (2)")
        finally:
            for role in (ro, dagster):
                admin.execute(f'DROP OWNED BY "{role}" CASCADE')
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_cli_requires_its_arguments():
    with pytest.raises(SystemExit):
        bootstrap_main(["prepare"])
