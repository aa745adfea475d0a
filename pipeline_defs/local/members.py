"""Which processes belong to a local stack, and who holds a port: found by marks, never by name.

Every process the stack starts carries ``PIPELINE_STACK_DIR=<state dir>`` in its environment, and its
children inherit it; so a Dagster daemon orphaned by a killed terminal is still found by the state dir
it serves. Port holders come from ``/proc/net/tcp`` and the sockets in ``/proc/<pid>/fd`` (Linux).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

STACK_MARK = "PIPELINE_STACK_DIR"


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def has_env(pid: int, name: str, value: str) -> bool:
    try:
        return f"{name}={value}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def members(state_dir: Path) -> list[int]:
    """Live processes marked as parts of the stack of ``state_dir`` (this process excluded)."""
    mark = str(Path(state_dir).resolve())
    return [pid for pid in _pids() if pid != os.getpid() and has_env(pid, STACK_MARK, mark) and pid_alive(pid)]


def same_session(pid: int) -> list[int]:
    """Every live process in ``pid``'s session (``dagster dev`` and the webserver, daemon and code
    servers it started), ``pid`` included."""
    try:
        sid = os.getsid(pid)
    except OSError:
        return []
    found = []
    for other in _pids():
        try:
            if os.getsid(other) == sid and pid_alive(other):
                found.append(other)
        except OSError:
            continue
    return found


def port_holder(port: int) -> int | None:
    """The PID listening on TCP ``port`` (loopback or any address), if this user may see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for pid in _pids():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def describe(pid: int) -> str:
    """``pid 123 (moto_server -H 127.0.0.1 -p 4566)`` — what a user needs to find and stop it."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        argv = []
    if len(argv) > 1 and Path(argv[0]).name.startswith("python") and argv[1].startswith("/"):
        argv = argv[1:]  # a console script: name the script, not the interpreter
    command = " ".join([Path(argv[0]).name, *argv[1:]]) if argv else "?"
    return f"pid {pid} ({' '.join(command.split())[:100]})"


def descendants(pid: int) -> list[int]:
    """Children, grandchildren… of ``pid`` (whatever their process group)."""
    parents: dict[int, list[int]] = {}
    for child in _pids():
        try:
            ppid = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def terminate(pids: list[int], timeout: float = 15.0, first: int = signal.SIGTERM) -> list[int]:
    """Signal each process (``first``, then SIGKILL after ``timeout``); returns those that were alive."""
    alive = [pid for pid in pids if pid_alive(pid)]
    for sig in (first, signal.SIGKILL):
        for pid in alive:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in alive):
            time.sleep(0.2)
        if not any(pid_alive(pid) for pid in alive):
            break
    return alive
