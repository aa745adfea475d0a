"""Which dataset an S3 object belongs to, from its key alone (stdlib only).

Accepted layouts (folder names compare case-insensitively, ``-`` and ``_`` alike)::

    <source>/<dataset>/[...dt=YYYY-MM-DD/...]<name>.(json|jsonl|ndjson|csv)[.gz]   crm/customers/…
    <source>/<folder alias>/…      web/events/dt=2024-05-01/….jsonl.gz (stream archive), market/ticks/…
    <source>-data/…                crm-data/customer-data.json (seed-style folders)

``dt=`` may appear in any folder after the dataset folder; it gives the partition (else None: the
caller uses the upload date). Keys are expected URL-decoded (S3 event notifications encode them).
An unknown prefix, an unsupported extension or a malformed ``dt=`` folder gives ``None``
(unroutable: quarantine and alert).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .datasets import CONTRACTS

EXTENSIONS = {"json": "json", "jsonl": "json", "ndjson": "json", "csv": "csv"}
_DT = re.compile(r"dt=([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass(frozen=True)
class Route:
    dataset: str
    partition: dt.date | None
    fmt: str  # "json" | "csv"
    compressed: bool


def file_format(key: str) -> tuple[str, bool] | None:
    """``(fmt, compressed)`` from a key's file name, or None when the extension is unsupported."""
    name = key.rsplit("/", 1)[-1].lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or ext not in EXTENSIONS:
        return None
    return EXTENSIONS[ext], compressed


def folder_name(segment: str) -> str:
    """A folder name as routing compares it: ``CRM``, ``crm`` alike; ``crm-data``, ``crm_data`` alike."""
    return segment.lower().replace("-", "_")


def under(key: str, prefix: str) -> bool:
    """Whether ``key`` lies under ``prefix`` (``a/b/``), folders compared as :func:`folder_name` does."""
    wanted = [folder_name(p) for p in prefix.strip("/").split("/")]
    folders = [folder_name(p) for p in key.lstrip("/").split("/")[:-1]]
    return folders[: len(wanted)] == wanted


def _prefix_table() -> list[tuple[tuple[str, ...], str]]:
    table = [
        (tuple(folder_name(p) for p in prefix.strip("/").split("/")), contract.name)
        for contract in CONTRACTS.values()
        for prefix in contract.prefixes
    ]
    return sorted(table, key=lambda item: -len(item[0]))  # longest prefix wins


_PREFIXES = _prefix_table()


def route(key: str) -> Route | None:
    """The :class:`Route` for an S3 key (``s3://bucket/`` and a leading ``/`` are tolerated)."""
    if key.startswith("s3://"):
        key = key[5:].partition("/")[2]
    parts = key.lstrip("/").split("/")
    fmt = file_format(parts[-1])
    if fmt is None:
        return None
    folders = [folder_name(p) for p in parts[:-1]]
    for prefix, dataset in _PREFIXES:
        if tuple(folders[: len(prefix)]) == prefix:
            partition = None
            for segment in parts[len(prefix):-1]:
                if segment.startswith("dt="):
                    m = _DT.fullmatch(segment)
                    try:
                        partition = dt.date(*map(int, m.groups()))  # type: ignore[union-attr]
                    except (AttributeError, ValueError):
                        return None  # dt=2024-13-01, dt=yesterday: say so rather than guess
                    break
            return Route(dataset=dataset, partition=partition, fmt=fmt[0], compressed=fmt[1])
    return None
