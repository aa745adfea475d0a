"""Run a Lambda handler from ``infra/functions/<name>/handler.py`` in this process, as Lambda would.

On AWS each function's folder is the root of its own ``sys.path``. Locally several functions share
one process (the gateway serves ingest and analytics), so their folders all go on ``sys.path`` and
their top-level module names must differ: :func:`load_function` refuses, with the clashing names,
rather than letting one function silently import another's ``config.py``. One lock per function
serialises its invocations, like one warm execution environment.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from pipeline_defs.local.routes import FUNCTIONS_DIR

_LOAD_LOCK = threading.Lock()


class FunctionLoadError(RuntimeError):
    """A function cannot be loaded: no handler.py (yet), or module names that clash with another function's."""


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass
class LocalFunction:
    name: str
    module: ModuleType
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, event: dict, context: LocalContext | None = None):
        with self.lock:
            return self.module.handler(event, context or LocalContext(self.name))


def _top_level_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py")}
    names |= {d.name for d in folder.iterdir() if d.is_dir() and (d / "__init__.py").is_file()}
    return names - {"handler"}


def _check_unique(folder: Path) -> None:
    mine = _top_level_names(folder)
    for other in folder.parent.iterdir():
        if other != folder and (other / "handler.py").is_file():
            shared = mine & _top_level_names(other)
            if shared:
                raise FunctionLoadError(f"functions {folder.name} and {other.name} both define top-level "
                                       f"module(s) {sorted(shared)}; locally they share one process — rename one")


def load_function(name: str, functions_dir: Path = FUNCTIONS_DIR) -> LocalFunction:
    """Import ``<functions_dir>/<name>/handler.py`` (a fresh handler module each call)."""
    folder = (functions_dir / name).resolve()
    path = folder / "handler.py"
    if not path.is_file():
        raise FunctionLoadError(f"no Lambda handler at {path}")
    _check_unique(folder)
    with _LOAD_LOCK:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        module_name = f"lambda_{name}_handler_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and tracebacks look modules up by name
        spec.loader.exec_module(module)
    return LocalFunction(name, module)


def sibling(function: LocalFunction, module_name: str) -> ModuleType:
    """A module of the function's folder (for tests and benchmarks)."""
    load = importlib.import_module(module_name)
    assert Path(load.__file__).resolve().parent == (FUNCTIONS_DIR / function.name).resolve(), load.__file__
    return load
