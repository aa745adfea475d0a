"""Settings: the environment is read in one place, and the database URL resolves in the documented order."""

import json

import boto3
import pytest

from pipeline_defs.settings import SettingsError, load_settings, resolve_database_url, sqlalchemy_url


def test_defaults_and_overrides():
    settings = load_settings({"PIPELINE_RAW_BUCKET": "my-raw", "PIPELINE_MOTO_PORT": "4600"})
    assert settings.names.raw_bucket == "my-raw"
    assert settings.names.processed_bucket == "pipeline-processed"
    assert settings.ports.moto == 4600 and settings.ports.postgres == 5433


def test_bad_port_is_a_clear_error():
    with pytest.raises(SettingsError, match="PIPELINE_PG_PORT='x' is not a port number"):
        load_settings({"PIPELINE_PG_PORT": "x"})


def test_database_url_wins_over_secret():
    settings = load_settings({"PIPELINE_DATABASE_URL": "postgresql://u:p@h:1/d", "PIPELINE_DB_SECRET_ID": "s"})
    assert resolve_database_url(settings) == "postgresql://u:p@h:1/d"


def test_database_url_from_secrets_manager(aws_env):
    """The AWS path: PIPELINE_DB_SECRET_ID names an RDS-style secret in Secrets Manager."""
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="app/db", SecretString=json.dumps(
        {"username": "reader", "password": "p@ss/word", "host": "db.internal", "port": 6543, "dbname": "wh"}))
    settings = load_settings({"PIPELINE_DB_SECRET_ID": "app/db", "AWS_ENDPOINT_URL": aws_env})
    assert resolve_database_url(settings) == "postgresql://reader:p%40ss%2Fword@db.internal:6543/wh"


def test_missing_secret_says_which(aws_env):
    settings = load_settings({"PIPELINE_DB_SECRET_ID": "nope", "AWS_ENDPOINT_URL": aws_env})
    with pytest.raises(SettingsError, match="cannot read database secret 'nope'"):
        resolve_database_url(settings)


def test_no_database_configured(tmp_path):
    settings = load_settings({"PIPELINE_LOCAL_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="no database configured"):
        resolve_database_url(settings)


def test_sqlalchemy_url_uses_psycopg3():
    assert sqlalchemy_url("postgresql://a:b@h/d") == "postgresql+psycopg://a:b@h/d"
    with pytest.raises(SettingsError):
        sqlalchemy_url("sqlite:///x.db")
