"""`make dev`: the stack with Dagster, owned by this process until it ends.

SIGINT, SIGTERM and SIGHUP (Ctrl-C, ``kill``, a closed terminal) all stop every part this process
started — each in its process group, with its children. The console shows the endpoints and next
steps, then only warnings and run outcomes; Dagster's full output stays in ``<state>/logs/dagster.log``.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from pipeline_defs.local import record

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# dagster/_core/log_manager.py: "<time> - dagster - <LEVEL> - <job> - <run id> - [<pid> - ]<EVENT> - <message>"
_RUN_EVENT = re.compile(r" - (?P<job>\S+) - (?P<run>[0-9a-f]{8})[0-9a-f-]* - (?:\d+ - )?"
                        r"(?P<event>RUN_SUCCESS|RUN_FAILURE|RUN_CANCELED) - (?P<text>.*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WARNING = re.compile(r" - (WARNING|ERROR|CRITICAL) - ")


class Stopped(Exception):
    """A stop signal arrived."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)


def say(line: str) -> None:
    """Print, but never fail: after SIGHUP the terminal may be gone."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def console_line(line: str) -> str | None:
    """What the quiet console shows of a Dagster log line: run outcomes and warnings, else nothing."""
    line = _ANSI.sub("", line)
    event = _RUN_EVENT.search(line)
    if event:
        outcome = {"RUN_SUCCESS": "succeeded", "RUN_FAILURE": "FAILED", "RUN_CANCELED": "canceled"}[event["event"]]
        return f"run {event['run']} of {event['job']} {outcome}: {event['text'].strip()}"
    if _WARNING.search(line):
        return line.rstrip()
    return None


def _follow(path: Path, stop: threading.Event) -> None:
    """Echo the console lines of a growing log file until ``stop`` is set."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.2)
    with open(path, errors="replace") as log:
        while not stop.is_set():
            line = log.readline()
            if not line:
                time.sleep(0.5)
                continue
            shown = console_line(line)
            if shown:
                say(shown)


def next_steps(stack) -> str:
    names, pipeline = stack.settings.names, Path(sys.executable).parent / "pipeline"
    try:
        pipeline = pipeline.relative_to(Path.cwd())
    except ValueError:
        pass
    ports = stack.settings.ports
    return "\n".join([
        "",
        f"  Dagster UI   {stack.dagster_url}",
        f"  AWS (moto)   {stack.moto_url}",
        f"  PostgreSQL   127.0.0.1:{ports.postgres}",
        f"  API          {stack.gateway_url}",
        "",
        "next, in another terminal:",
        f'  eval "$({pipeline} local env)"',
        """  echo '{"customer_id": "c1", "email": "ada@example.com", "country": "GB", "signup_date": "2026-11-20"}' \\""",
        f"    | aws s3 cp - s3://{names.raw_bucket}/crm/customers/dt=$(date -u -d yesterday +%F)/first.jsonl   # then Runs in the UI",
        "",
        f"this console shows warnings and run outcomes; full logs in {stack.settings.local_dir / 'logs'}/ — "
        "Ctrl-C stops everything",
    ])


def run_foreground(stack, seed_days: int, dagster: bool = True) -> int:
    """Start the stack (and Dagster), wait for a stop signal or Dagster's exit, stop what was started."""
    def stop(signum, frame):
        raise Stopped(signum)

    record.claim(stack.settings, stack.known_pids())  # refuse before owning anything
    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    running_before = {part.name for part in stack.parts() if part.running()}
    if stack.external_database or stack.postgres.is_running():
        running_before.add("postgres")
    if dagster and "dagster" in running_before:
        say(f"dagster: already running on {stack.dagster_url} (owned by whoever started it)")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 0
    follow = threading.Event()
    code = 0
    try:
        stack.up(dagster=False, seed_days=seed_days, say=say, owner=os.getpid())
        if not dagster:
            say(next_steps(stack))
            while True:
                signal.pause()
        ui = stack.dagster()
        stack.write_instance_config()
        say(f"dagster: starting on {stack.dagster_url} (webserver, daemon, code server)…")
        child = ui.spawn()
        threading.Thread(target=_follow, args=(ui.log_file, follow), daemon=True).start()
        ui.wait_ready(child)
        say(next_steps(stack))
        code = child.wait()
        say(f"dagster exited with code {code}; see {ui.log_file}")
    except Stopped as why:
        say(f"{why}: stopping what `make dev` started…")
    finally:
        follow.set()
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        everything = {"dagster", "gateway", "poller", "moto", "postgres"}
        stack.down(only=None if not running_before else sorted(everything - running_before), say=say)
        record.write(stack.settings, owner=None, started=[])
        if not record.holders(stack.settings):
            record.record_file(stack.settings.local_dir).unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if code in (0, -signal.SIGINT, 130) else code
