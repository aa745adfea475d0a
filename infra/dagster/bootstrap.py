"""Database roles the AWS deployment needs, created by the code server before it starts serving.

``prepare`` (code server entrypoint, as the owner from PIPELINE_DB_SECRET_ID): apply the pipeline's
migrations, then make sure that

* ``dagster`` exists, logs in with RDS IAM tokens (``rds_iam``) and owns the ``dagster`` schema
  where dagster-postgres keeps instance storage;
* ``analytics_ro`` (the analytics API) has the password of the read-only secret, reads only the
  warehouse/analytics/ops schemas (now and future tables), is read-only by default and has a
  statement timeout.

It is idempotent, so every code-server start re-applies it (which also follows a rotated read-only
password). ``wait`` (webserver/daemon entrypoint) blocks until ``dagster`` can log in, so first
deploys do not crash-loop while the code server is still preparing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import psycopg
from psycopg import sql

READ_SCHEMAS = ("warehouse", "analytics", "ops")
DAGSTER_ROLE = "dagster"


def ensure_roles(conn: psycopg.Connection, *, readonly_user: str, readonly_password: str,
                 statement_timeout_ms: int, dagster_role: str = DAGSTER_ROLE) -> list[str]:
    """Create or update both roles on an autocommit connection; returns what was done."""
    done: list[str] = []
    existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
    for role in (dagster_role, readonly_user):
        if role not in existing:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            done.append(f"created role {role}")
    if "rds_iam" in existing:  # only on RDS; locally the role keeps password-less trust auth
        conn.execute(sql.SQL("GRANT rds_iam TO {}").format(sql.Identifier(dagster_role)))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
        sql.Identifier(dagster_role), sql.Identifier(dagster_role)))
    conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(
        sql.Identifier(dagster_role), sql.Identifier(dagster_role)))

    ro = sql.Identifier(readonly_user)
    conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
        ro, sql.Literal(readonly_password)))
    conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ro, sql.Literal(int(statement_timeout_ms))))
    conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ro))
    present = {row[0] for row in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [list(READ_SCHEMAS)])}
    for schema in sorted(present):
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, ro))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, ro))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, ro))
    done.append(f"{readonly_user}: read-only on {sorted(present)}, statement_timeout={statement_timeout_ms}ms")
    return done


def _secret(secret_id: str) -> dict:
    from pipeline_defs.aws import client
    from pipeline_defs.settings import get_settings

    value = client("secretsmanager", get_settings()).get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(value)


def prepare(readonly_secret_id: str, statement_timeout_ms: int) -> None:
    from pipeline_defs.migrations import migrate
    from pipeline_defs.settings import get_settings, resolve_database_url

    url = resolve_database_url(get_settings())
    applied = migrate(url)
    print(f"bootstrap: migrations applied: {applied or 'none pending'}", flush=True)
    readonly = _secret(readonly_secret_id)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for line in ensure_roles(conn, readonly_user=readonly["username"], readonly_password=readonly["password"],
                                 statement_timeout_ms=statement_timeout_ms):
            print(f"bootstrap: {line}", flush=True)


def wait(host: str, port: int, dbname: str, user: str, region: str, timeout_s: int) -> None:
    import boto3

    rds = boto3.client("rds", region_name=region)
    deadline = time.monotonic() + timeout_s
    while True:
        token = rds.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region)
        try:
            psycopg.connect(host=host, port=port, dbname=dbname, user=user, password=token,
                            sslmode="require", connect_timeout=5).close()
            print(f"bootstrap: {user} can log in", flush=True)
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"bootstrap: {user} still cannot log in after {timeout_s}s: {exc}")
            print(f"bootstrap: waiting for the code server to prepare the database ({exc})", flush=True)
            time.sleep(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dagster.bootstrap")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="migrations + database roles (code server)")
    p.add_argument("--readonly-secret-id", required=True)
    p.add_argument("--statement-timeout-ms", type=int, required=True)
    w = sub.add_parser("wait", help="block until the dagster role can log in (webserver, daemon)")
    for name in ("host", "dbname", "user", "region"):
        w.add_argument(f"--{name}", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.readonly_secret_id, args.statement_timeout_ms)
    else:
        wait(args.host, args.port, args.dbname, args.user, args.region, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
