"""The running stack describes itself: ``<state dir>/stack.json``, written by ``pipeline local up``.

It holds the ports, the state dir and the PID of the ``up --foreground`` process that owns the stack
(``make dev``), so ``status``, ``env``, ``down`` and ``aws`` run from any shell find the running stack
even when that shell has none of the ``PIPELINE_*_PORT`` variables.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Mapping

from pipeline_defs.local.members import members, pid_alive
from pipeline_defs.settings import LocalPorts, Settings

PORT_VARS = {"moto": "PIPELINE_MOTO_PORT", "gateway": "PIPELINE_GATEWAY_PORT",
             "dagster": "PIPELINE_DAGSTER_PORT", "postgres": "PIPELINE_PG_PORT"}


def record_file(local_dir: Path) -> Path:
    return local_dir / "stack.json"


def read(local_dir: Path) -> dict | None:
    try:
        return json.loads(record_file(local_dir).read_text())
    except (OSError, ValueError):
        return None


def write(settings: Settings, *, owner: int | None, started: list[str]) -> None:
    record_file(settings.local_dir).write_text(json.dumps({
        "state_dir": str(settings.local_dir), "ports": asdict(settings.ports), "owner_pid": owner,
        "started": started, "started_at": time.time()}, indent=2))


def postmaster(settings: Settings) -> tuple[int, int] | None:
    """(pid, port) of the PostgreSQL server running on this state dir's cluster, if any."""
    try:
        lines = (settings.local_postgres_dir / "data" / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port) if pid_alive(pid) else None


def holders(settings: Settings) -> list[int]:
    """PIDs of the processes that hold this state dir: the owner, every marked part, PostgreSQL."""
    record = read(settings.local_dir) or {}
    owner = record.get("owner_pid")
    found = [owner] if owner and pid_alive(owner) else []
    found += members(settings.local_dir)
    pg = postmaster(settings)
    return found + ([pg[0]] if pg else [])


def with_recorded_ports(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` with the running stack's ports for every port variable not set in ``env``."""
    record = read(settings.local_dir)
    if not record or not holders(settings):
        return settings
    recorded = record.get("ports", {})
    ports = {part: (getattr(settings.ports, part) if env.get(var) else int(recorded.get(part, getattr(settings.ports, part))))
             for part, var in PORT_VARS.items()}
    return replace(settings, ports=LocalPorts(**ports))


def claim(settings: Settings, known: list[int]) -> None:
    """Refuse (StackError naming the PIDs) when this state dir is held by another stack: a running
    stack on other ports, another ``up --foreground`` owner, or leftovers no PID file accounts for
    (e.g. a Dagster daemon orphaned by a closed terminal). ``known`` are the PIDs of this stack's
    recorded parts and their children."""
    from pipeline_defs.local.members import describe
    from pipeline_defs.local.processes import StackError

    where = settings.local_dir
    stop = f"stop it with `PIPELINE_LOCAL_DIR={where} pipeline local down` or use another PIPELINE_LOCAL_DIR"
    record = read(where) or {}
    owner = record.get("owner_pid")
    pids = holders(settings)
    if owner and pid_alive(owner):
        raise StackError(f"state dir {where} is held by `pipeline local up --foreground` ({describe(owner)}); "
                         f"use that stack (`pipeline local env`), or {stop}")
    pg = postmaster(settings)
    ports = record.get("ports") if pids else None
    if (ports and ports != asdict(settings.ports)) or (pg and pg[1] != settings.ports.postgres):
        listed = ", ".join(describe(pid) for pid in pids)
        raise StackError(f"state dir {where} is held by a running stack on other ports ({listed}); {stop}")
    strays = [pid for pid in members(where) if pid not in known]
    if strays:
        raise StackError(f"processes of an earlier stack on {where} are still running "
                         f"({', '.join(describe(pid) for pid in strays)}); `pipeline local down` stops them")
