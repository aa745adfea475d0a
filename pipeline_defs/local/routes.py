"""The local API gateway's routes: HTTP method + path → the Lambda handler that serves it on AWS.

The same table drives the local gateway (`pipeline local up`) and the tests, and mirrors the API
Gateway resources infra/ deploys. ``{name}`` segments are path parameters, ``{name+}`` greedy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "functions"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # folder under infra/functions/, handler is handler.handler

    @property
    def handler_file(self) -> Path:
        return FUNCTIONS_DIR / self.function / "handler.py"


ROUTES: tuple[Route, ...] = (
    Route("POST", "/events", "ingest"),
    Route("POST", "/ingest", "ingest"),
    Route("GET", "/metrics/realtime", "ingest"),
    Route("GET", "/health", "analytics"),
    Route("GET", "/analytics", "analytics"),
    Route("POST", "/analytics", "analytics"),
    Route("GET", "/download/{key+}", "analytics"),
)
