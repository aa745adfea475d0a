"""The local stack: PostgreSQL + moto server + API gateway + Kinesis poller (+ Dagster), started in the
background and torn down cleanly.

``up`` returns once every part answers; ``down`` stops only what this stack started; ``env`` prints
the variables that point ``aws``, ``psql``, boto3 and Dagster at it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline_defs.local import record
from pipeline_defs.local.members import (
    STACK_MARK,
    descendants,
    describe,
    has_env,
    members,
    port_holder,
    same_session,
    terminate,
)
from pipeline_defs.local.postgres import LocalPostgres, PostgresError
from pipeline_defs.local.processes import ManagedProcess, StackError, http_ok, moto_answers, port_open
from pipeline_defs.settings import PROJECT_ROOT, Settings

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DAGSTER_YAML = """\
# Written by `pipeline local up`: Dagster instance storage in the local PostgreSQL (dagster-postgres).
storage:
  postgres:
    postgres_url:
      env: PIPELINE_DAGSTER_DATABASE_URL
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
concurrency:
  runs:
    max_concurrent_runs: 3
    tag_concurrency_limits:  # one load per dataset-partition at a time (sensors/run_requests.py)
      - key: pipeline/load
        value:
          applyLimitPerUniqueValue: true
        limit: 1
run_retries:  # a failed run is re-executed from its failed step; then sensors/recovery.py takes over
  enabled: true
  max_retries: 2
run_monitoring:  # ends runs past their dagster/max_runtime_seconds tag (sensors/run_requests.py)
  enabled: true
telemetry:
  enabled: false
"""

Say = Callable[[str], None]


def _bin(name: str) -> str:
    """A console script of this venv (moto_server, dagster), independent of PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class LocalStack:
    settings: Settings

    # -- parts -----------------------------------------------------------------------------

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres.for_settings(self.settings)

    @property
    def external_database(self) -> bool:
        return bool(self.settings.database_url)

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ports.moto}"

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ports.dagster}"

    @property
    def dagster_home(self) -> Path:
        return self.settings.local_dir / "dagster"

    def moto(self) -> ManagedProcess:
        port = self.settings.ports.moto
        return ManagedProcess(
            name="moto", argv=[_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port=port,
            state_dir=self.settings.local_dir, ready=lambda: moto_answers(self.moto_url),
            env={STACK_MARK: str(self.settings.local_dir)},
        )

    def dagster(self) -> ManagedProcess:
        port = self.settings.ports.dagster
        return ManagedProcess(
            name="dagster",
            argv=[_bin("dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
            port=port, state_dir=self.settings.local_dir, cwd=PROJECT_ROOT, env=self.process_env(),
            ready=lambda: http_ok(f"{self.dagster_url}/server_info"), ready_timeout=180,
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ports.gateway}"

    def gateway(self) -> ManagedProcess:
        """The local API Gateway: routes.py → infra/functions/<name>/handler.py (ingest, analytics)."""
        port = self.settings.ports.gateway
        return ManagedProcess(
            name="gateway", argv=[sys.executable, "-m", "pipeline_defs.local.gateway"], port=port,
            state_dir=self.settings.local_dir, cwd=PROJECT_ROOT,
            env={**self.process_env(), "PIPELINE_GATEWAY_PORT": str(port)},
            ready=lambda: http_ok(f"{self.gateway_url}/_local/health"), ready_timeout=60,
        )

    def poller(self) -> ManagedProcess:
        """The local Kinesis event source mapping feeding the stream processor (no port: a heartbeat)."""
        from pipeline_defs.local.poller import heartbeat_file

        beat = heartbeat_file(self.settings)
        return ManagedProcess(
            name="poller", argv=[sys.executable, "-m", "pipeline_defs.local.poller"], port=0,
            state_dir=self.settings.local_dir, cwd=PROJECT_ROOT, env=self.process_env(),
            ready=lambda: beat.exists() and time.time() - beat.stat().st_mtime < 60, ready_timeout=60,
        )

    def aws_settings(self) -> Settings:
        """Settings whose AWS clients talk to this stack's moto with its fake credentials."""
        return self.settings.with_overrides(
            aws_endpoint_url=self.moto_url,
            aws_credentials=(FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]))

    # -- environment -----------------------------------------------------------------------

    def database_url(self, dbname: str = "pipeline") -> str:
        if self.settings.database_url:
            if dbname == "pipeline":
                return self.settings.database_url
            return self.settings.database_url.rsplit("/", 1)[0] + f"/{dbname}"
        return self.postgres.url(dbname)

    def env(self) -> dict[str, str]:
        """What `pipeline local env` prints: enough for aws, psql, boto3 and dagster."""
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_REGION": self.settings.aws_region,
            "AWS_DEFAULT_REGION": self.settings.aws_region,
            **FAKE_CREDENTIALS,
            "PIPELINE_LOCAL_DIR": str(self.settings.local_dir),
            **{var: str(getattr(self.settings.ports, part)) for part, var in record.PORT_VARS.items()},
            "PATH": venv_path(),
            "PIPELINE_API_URL": f"http://127.0.0.1:{self.settings.ports.gateway}",
            "PIPELINE_ANALYTICS_DB_SECRET_ID": f"{self.settings.names.db_secret_id}-readonly",  # local/analytics.py
            "PIPELINE_DAGSTER_URL": self.dagster_url,
            "DAGSTER_HOME": str(self.dagster_home),
            **self.settings.names.as_env(),
        }
        if self.external_database or self.postgres.initialised:
            env["PIPELINE_DATABASE_URL"] = self.database_url()
            env["PIPELINE_DAGSTER_DATABASE_URL"] = self.database_url("dagster")
        return env

    def process_env(self) -> dict[str, str]:
        """The environment of Dagster processes: the database comes through the Secrets Manager
        secret, exactly as on AWS, unless the user gave PIPELINE_DATABASE_URL. The venv is
        activated so `dg` finds the project's interpreter."""
        venv = Path(sys.executable).parent.parent
        env = {**self.env(), "VIRTUAL_ENV": str(venv), STACK_MARK: str(self.settings.local_dir)}
        if not self.external_database:
            env.pop("PIPELINE_DATABASE_URL", None)
        return env

    def database_secret(self) -> dict:
        if self.external_database:
            from urllib.parse import unquote, urlsplit

            parts = urlsplit(self.settings.database_url)
            return {"username": unquote(parts.username or ""), "password": unquote(parts.password or ""),
                    "host": parts.hostname, "port": parts.port or 5432, "dbname": parts.path.lstrip("/") or "pipeline"}
        return {**self.postgres.credentials(), "port": self.settings.ports.postgres}

    # -- lifecycle -------------------------------------------------------------------------

    def parts(self) -> list[ManagedProcess]:
        return [self.moto(), self.gateway(), self.poller(), self.dagster()]

    def known_pids(self) -> list[int]:
        """The recorded parts, their children and anything in their sessions: what is not a stray."""
        pids = [pid for part in self.parts() if (pid := part.pid())]
        known = pids + [child for pid in pids for child in descendants(pid)]
        for pid in members(self.settings.local_dir):
            try:
                if os.getsid(pid) in pids:  # every part leads its own session (processes.py)
                    known.append(pid)
            except OSError:
                pass
        return known

    def up(self, *, dagster: bool = True, seed_days: int = 0, say: Say = print, owner: int | None = None,
           started: list[str] | None = None) -> list[str]:
        """Start what is not running; returns the names of the parts started now (also appended to
        ``started`` as they start). ``owner`` is the PID of the `up --foreground` process that stops
        the stack when it ends."""
        started = [] if started is None else started
        self.settings.local_dir.mkdir(parents=True, exist_ok=True)
        record.claim(self.settings, self.known_pids())
        record.write(self.settings, owner=owner, started=[])
        if self.external_database:
            say(f"postgres: using PIPELINE_DATABASE_URL ({self.database_url().split('@')[-1]})")
        else:
            pg = self.postgres
            try:
                if pg.init():
                    say(f"postgres: initialised a new cluster in {pg.root}")
                if pg.is_running():
                    say(f"postgres: already running on 127.0.0.1:{pg.port}")
                else:
                    if port_open(pg.port):
                        holder = port_holder(pg.port)
                        who = describe(holder) if holder else "another process"
                        raise StackError(f"port {pg.port} for postgres is already in use by {who}; "
                                         "stop it or set PIPELINE_PG_PORT")
                    pg.start()
                    started.append("postgres")
                    say(f"postgres: started on 127.0.0.1:{pg.port}")
            except PostgresError as exc:
                raise StackError(str(exc)) from None

        moto = self.moto()
        if moto.start():
            from pipeline_defs.local.snapshot import restore

            started.append("moto")
            say(f"moto: started on {self.moto_url}")
            restore(self.aws_settings(), lambda: self._provision(say), say, self.database_url())
        else:
            say(f"moto: already running on {self.moto_url}")
            self._provision(say)
        self._migrate(say)
        self._start_hot_path(say, started)
        if seed_days:
            self._seed(seed_days, say)
        if dagster:
            dagster_process = self.dagster()
            self.write_instance_config()
            say("dagster: starting (webserver, daemon, code server)…")
            if dagster_process.start():
                started.append("dagster")
                say(f"dagster: UI on {self.dagster_url}")
            else:
                say(f"dagster: already running on {self.dagster_url}")
        record.write(self.settings, owner=owner, started=started)
        return started

    def write_instance_config(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)

    def _start_hot_path(self, say: Say, started: list[str] | None = None) -> list[str]:
        """The gateway and the Kinesis poller: API → ingest → Kinesis → stream processor; returns
        ``started`` with the parts this call started."""
        from pipeline_defs.local.poller import heartbeat_file

        started = [] if started is None else started

        for part, where in ((self.gateway(), self.gateway_url),
                            (self.poller(), f"{self.settings.names.events_stream} → stream_processor")):
            if part.name == "poller" and not part.running():
                heartbeat_file(self.settings).unlink(missing_ok=True)  # a stale beat is not readiness
            if part.start():
                started.append(part.name)
                say(f"{part.name}: started ({where})")
            else:
                say(f"{part.name}: already running ({where})")
        return started

    def _provision(self, say: Say) -> None:
        from pipeline_defs.local.provision import provision

        report = provision(self.aws_settings(), self.database_secret())
        if report.created:
            say(f"aws: created {len(report.created)} resources ({', '.join(report.created[:4])}{', …' if len(report.created) > 4 else ''})")
        else:
            say(f"aws: all {len(report.existing)} resources present")

    def _migrate(self, say: Say) -> None:
        from pipeline_defs.migrations import migrate

        applied = migrate(self.database_url())
        say(f"migrations: applied {', '.join(applied)}" if applied else "migrations: up to date")
        from pipeline_defs.local.analytics import ensure_invalidation_rule, ensure_readonly_login

        try:
            ensure_readonly_login(self.database_url(), self.aws_settings())
        except Exception as exc:  # e.g. an external database whose owner may not create roles
            say(f"analytics: no read-only login ({type(exc).__name__}); the API reads via SET ROLE analytics_reader")
        ensure_invalidation_rule(self.aws_settings())

    def _seed(self, days: int, say: Say) -> None:
        from pipeline_defs.seed import seed_raw_bucket

        settings = self.aws_settings()
        summary = seed_raw_bucket(settings, days=days, say=say)
        say(f"seed: {summary}")

    def _snapshot(self, say: Say) -> None:
        """moto keeps nothing: snapshot the AWS side for the next `up` (local/snapshot.py)."""
        from pipeline_defs.local.snapshot import snapshot_dir, take

        started = time.monotonic()
        try:
            kept = take(self.aws_settings())
        except Exception as exc:  # never block `down`; say exactly what is lost
            say(f"aws: snapshot failed ({type(exc).__name__}: {exc}); the next `up` starts moto empty "
                "and says how to rebuild it")
            return
        say(f"aws: kept {kept['objects']} S3 objects, {kept['items']} DynamoDB items and {kept['messages']} "
            f"queued messages in {snapshot_dir(self.settings)} ({time.monotonic() - started:.1f}s)")

    def down(self, *, wipe: bool = False, only: list[str] | None = None, say: Say = print) -> list[str]:
        """Stop the parts (all, or ``only`` those named); returns what was stopped."""
        stopped: list[str] = []
        wanted = set(only) if only is not None else {"dagster", "gateway", "poller", "moto", "postgres"}
        for part in (self.dagster(), self.gateway(), self.poller()):
            if part.name in wanted and part.stop():
                stopped.append(part.name)
        moto = self.moto()
        if "moto" in wanted and moto.running():
            if not wipe:
                self._snapshot(say)
            moto.stop()
            stopped.append("moto")
        if "postgres" in wanted and not self.external_database:
            pg = self.postgres
            try:
                if pg.is_running():
                    pg.stop()
                    stopped.append("postgres")
            except PostgresError as exc:
                raise StackError(str(exc)) from None
            if wipe:
                pg.wipe()
        strays = members(self.settings.local_dir)
        ui = port_holder(self.settings.ports.dagster)  # a Dagster UI of this state dir started without the mark
        if (ui and ui not in strays and has_env(ui, "DAGSTER_HOME", str(self.dagster_home))
                and os.getsid(ui) != os.getsid(0)):
            strays += [pid for pid in same_session(ui) if pid not in strays and pid != os.getpid()]
        if strays and only is None:
            say(f"stopping leftovers of this stack: {', '.join(describe(pid) for pid in strays)}")
            terminate(strays)
            stopped.append("leftovers")
        if only is None:
            record.record_file(self.settings.local_dir).unlink(missing_ok=True)
        if wipe:
            from pipeline_defs.local.lost import marker
            from pipeline_defs.local.snapshot import snapshot_dir

            marker(self.settings.local_dir).unlink(missing_ok=True)
            for folder in (snapshot_dir(self.settings), snapshot_dir(self.settings).with_suffix(".restored")):
                shutil.rmtree(folder, ignore_errors=True)
            say(f"wiped local state in {self.settings.local_dir}")
        for part in stopped:
            if part != "leftovers":
                say(f"{part}: stopped")
        return stopped

    def status(self) -> list[tuple[str, str, str]]:
        """(part, up/down, endpoint) for each part."""
        rows = []
        if self.external_database:
            rows.append(("postgres", "external", self.database_url().split("@")[-1]))
        else:
            pg = self.postgres
            up = pg.initialised and pg.is_running()
            rows.append(("postgres", "up" if up else "down", f"127.0.0.1:{pg.port}"))
        moto = self.moto()
        rows.append(("moto", "up" if moto.running() and moto.ready() else "down", self.moto_url))
        dagster = self.dagster()
        if dagster.running() and dagster.ready():
            rows.append(("dagster", "up", self.dagster_url))
        elif port_open(self.settings.ports.dagster) and (holder := port_holder(self.settings.ports.dagster)):
            rows.append(("dagster", "stray", f"{self.dagster_url} served by {describe(holder)}"))
        else:
            rows.append(("dagster", "down", self.dagster_url))
        gateway, poller = self.gateway(), self.poller()
        rows.append(("gateway", "up" if gateway.running() and gateway.ready() else "down", self.gateway_url))
        rows.append(("poller", "up" if poller.running() and poller.ready() else "down",
                     f"kinesis:{self.settings.names.events_stream} → stream_processor"))
        known = self.known_pids()
        rows += [("stray", "running", describe(pid)) for pid in members(self.settings.local_dir) if pid not in known]
        return rows


def venv_path() -> str:
    """PATH with this venv's bin/ first (dagster, dg, aws, pipeline), once."""
    import os

    venv_bin, current = str(Path(sys.executable).parent), os.environ.get("PATH", "")
    parts = [p for p in current.split(os.pathsep) if p and p != venv_bin]
    return os.pathsep.join([venv_bin, *parts])


def format_env(env: dict[str, str]) -> str:
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())
