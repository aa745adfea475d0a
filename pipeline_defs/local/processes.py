"""Background processes of the local stack: PID files, port checks, readiness and clean stops.

Each part is started in its own session (process group) so that stopping it also stops its
children (``dagster dev`` spawns a webserver, a daemon and code servers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from pipeline_defs.local.members import descendants, describe, pid_alive, port_holder, terminate


class StackError(RuntimeError):
    """A one-line, user-facing reason why a part of the stack cannot start or stop."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URL we built)
            return 200 <= response.status < 500
    except OSError:
        return False


def moto_answers(url: str, timeout: float = 2.0) -> bool:
    """moto serves AWS calls: STS GetCallerIdentity, a call that touches no stored data. (moto's
    ``/moto-api/data.json`` serialises every store and answers 500 after any multipart upload.)"""
    request = urllib.request.Request(  # noqa: S310 (loopback URL we built)
        url, data=b"Action=GetCallerIdentity&Version=2011-06-15", method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/sts/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200 and b"GetCallerIdentityResult" in response.read()
    except OSError:
        return False


@dataclass
class ManagedProcess:
    """A long-running child described by its command, log, PID file and readiness probe."""

    name: str
    argv: Sequence[str]
    port: int
    state_dir: Path
    ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_timeout: float = 90.0

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The recorded PID if that process is still alive; a stale PID file is removed."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start unless already running (returns False then). Raises StackError with the cause."""
        if self.running():
            if not self.ready():
                raise StackError(f"{self.name} is running (pid {self.pid()}) but not answering on port {self.port}; "
                                 f"see {self.log_file} or run `pipeline local down`")
            return False
        self.wait_ready(self.spawn())
        return True

    def check_port(self) -> None:
        """StackError naming the process that holds this part's port, if any."""
        if self.port and port_open(self.port):
            holder = port_holder(self.port)
            who = describe(holder) if holder else "another process"
            raise StackError(f"port {self.port} for {self.name} is already in use by {who}; "
                             f"stop it or choose another port (see `pipeline local env`)")

    def spawn(self) -> subprocess.Popen:
        """Start the process in its own session, output to its log, PID recorded; no readiness wait."""
        self.check_port()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.log_file.exists():  # keep the previous session's log beside the new one
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        log = open(self.log_file, "ab")  # noqa: SIM115 (handed to the child)
        try:
            proc = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True,
            )
        except FileNotFoundError:
            raise StackError(f"cannot start {self.name}: {self.argv[0]} not found (run `make install`)") from None
        finally:
            log.close()
        self.pid_file.write_text(str(proc.pid))
        return proc

    def wait_ready(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(f"{self.name} exited with code {proc.returncode} while starting: {self.last_log_line()}")
            if self.ready():
                return
            time.sleep(0.25)
        self.stop()
        raise StackError(f"{self.name} did not become ready within {self.ready_timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the process, its process group and every descendant (SIGTERM, then SIGKILL after
        ``timeout``); returns False when nothing was running."""
        pid = self.pid()
        if pid is None:
            return False
        tree = [pid, *descendants(pid)]
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        terminate(tree, timeout)
        try:
            os.killpg(pid, signal.SIGKILL)  # anything left in the group that was reparented meanwhile
        except (ProcessLookupError, PermissionError):
            pass
        self.pid_file.unlink(missing_ok=True)
        return True

    def last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        errors = [line for line in lines[-40:] if "Error" in line or "error" in line]
        return (errors or lines or ["(empty log)"])[-1].strip()[:300]
