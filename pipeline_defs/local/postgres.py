"""A private PostgreSQL cluster under the state folder, for the local stack and the tests.

Binaries come from the system (``pg_ctl`` on PATH or ``/usr/lib/postgresql/*/bin``), else from the
pip-installed ``pgserver`` wheel. initdb refuses root, so as root the cluster runs as the
unprivileged ``postgres`` user. The superuser password is generated at init and kept in
``<state>/postgres.json`` — never in code.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline_defs.local.members import pid_alive
from pipeline_defs.settings import Settings

SUPERUSER = "pipeline"
DATABASES = ("pipeline", "dagster")


class PostgresError(RuntimeError):
    """The local cluster could not be set up or started; the message says why."""


def find_bin_dir() -> Path | None:
    """The directory holding initdb/pg_ctl/postgres: the system's first, then pgserver's."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        real = Path(on_path).resolve().parent
        if (real / "initdb").exists() and (real / "postgres").exists():
            return real
    system = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if system:
        return system[-1].parent
    try:
        import pgserver  # noqa: F401  (only its bundled binaries are used)
    except ImportError:
        return None
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return bundled if (bundled / "pg_ctl").exists() else None


def _run_as_user() -> str | None:
    """The user to run the server as: none when we are not root, else ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError(
            "running as root but there is no 'postgres' user to run PostgreSQL as; "
            "create one (useradd -r postgres) or set PIPELINE_DATABASE_URL"
        ) from None
    return "postgres"


@dataclass
class LocalPostgres:
    """One cluster: a data directory, a port, and the credentials file beside it."""

    root: Path  # holds data/, the log and the socket; owned by the server's user
    credentials_file: Path
    port: int
    bin_dir: Path | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> "LocalPostgres":
        return cls(
            root=settings.local_postgres_dir,
            credentials_file=settings.local_dir / "postgres.json",
            port=settings.ports.postgres,
        )

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def _bin(self, name: str) -> str:
        bin_dir = self.bin_dir or find_bin_dir()
        if bin_dir is None:
            raise PostgresError(
                "no PostgreSQL binaries found (pg_ctl not on PATH, none under /usr/lib/postgresql, "
                "pgserver not installed); install postgresql or set PIPELINE_DATABASE_URL"
            )
        self.bin_dir = bin_dir
        return str(bin_dir / name)

    def _cmd(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        user = _run_as_user()
        argv = (["runuser", "-u", user, "--"] if user else []) + list(args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise PostgresError(f"{Path(args[0]).name} failed: {detail[-1] if detail else result.returncode}")
        return result

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.credentials_file.exists()

    def credentials(self) -> dict:
        return json.loads(self.credentials_file.read_text())

    def init(self) -> bool:
        """Create the cluster once; returns True when it was created now."""
        if self.initialised:
            return False
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted init
        self.root.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(password + "\n")
        user = _run_as_user()
        if user:
            info = pwd.getpwnam(user)
            for path in (self.root, pwfile):
                os.chown(path, info.pw_uid, info.pw_gid)
        try:
            self._cmd(
                self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.credentials_file.parent.mkdir(parents=True, exist_ok=True)
        self.credentials_file.write_text(json.dumps(
            {"username": SUPERUSER, "password": password, "host": "127.0.0.1", "dbname": "pipeline"}
        ))
        self.credentials_file.chmod(0o600)
        return True

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._cmd(self._bin("pg_ctl"), "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=off "
            "-c max_wal_size=2GB -c checkpoint_timeout=15min"
        )
        result = self._cmd(
            self._bin("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", "60", "-o", options, check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:] if self.log_file.exists() else []
            reason = next((line for line in reversed(tail) if "FATAL" in line or "could not" in line), None)
            raise PostgresError(f"PostgreSQL did not start on port {self.port}: {reason or (result.stderr or '').strip()}")
        self.create_databases()

    def stop(self) -> None:
        if self.is_running():
            self._cmd(self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")

    def wipe(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.credentials_file.unlink(missing_ok=True)

    # -- connection ------------------------------------------------------------------------

    def url(self, dbname: str = "pipeline") -> str:
        creds = self.credentials()
        return f"postgresql://{creds['username']}:{creds['password']}@127.0.0.1:{self.port}/{dbname}"

    def create_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')  # names from the DATABASES allow-list


def local_database_url(settings: Settings, dbname: str = "pipeline") -> str | None:
    """The local cluster's URL when one has been initialised under the state folder."""
    cluster = LocalPostgres.for_settings(settings)
    if not cluster.credentials_file.exists():
        return None
    return cluster.url(dbname)


OWNER_FILE = "owner.pid"


def reap_orphaned_clusters(prefix: str) -> int:
    """Stop and delete throwaway clusters whose owning process died without cleaning up (a killed
    pytest or benchmark); returns how many. Clusters of live owners are left alone."""
    reaped = 0
    for root in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if pid_alive(owner):
            continue
        try:
            LocalPostgres(root=root / "pg", credentials_file=root / "pg.json", port=0).stop()
        except PostgresError:
            pass  # half-made or already gone: deleting the folder is enough
        shutil.rmtree(root, ignore_errors=True)
        reaped += 1
    return reaped


@contextmanager
def throwaway_cluster(prefix: str, port: int) -> Iterator[LocalPostgres]:
    """A private cluster in a temporary folder for tests and benchmarks, deleted afterwards; orphans
    of earlier killed runs with the same prefix are reaped first."""
    reap_orphaned_clusters(prefix)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the server may run as the unprivileged postgres user
    (root / OWNER_FILE).write_text(str(os.getpid()))
    cluster = LocalPostgres(root=root / "pg", credentials_file=root / "pg.json", port=port)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
