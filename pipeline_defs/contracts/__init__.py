"""Data contracts: each dataset declared once, everything else derived from the declaration.

Importing this package needs only the standard library (it is bundled into Lambda functions that
have no pyarrow): the batch API (``validate_chunk``, ``ValidatedChunk``, ``Reject``) and
``arrow_schema`` load pyarrow on first use.

Modules: ``model`` (declaration types), ``datasets`` (the five contracts), ``routing`` (S3 key →
dataset), ``formats`` (bytes → records), ``values`` / ``record`` (per-value and per-record rules),
``canonical`` (JSON text), ``batch`` / ``vector`` / ``children`` / ``jsontext`` (vectorised
validation), ``schema`` (Arrow, DDL, docs).
"""

from __future__ import annotations

from importlib import import_module

from .canonical import MalformedRecord
from .datasets import CONTRACTS
from .formats import FileRejected, iter_records
from .model import LINEAGE_COLUMNS, ChildTable, Contract, Field
from .record import reasons, validate_record
from .routing import Route, file_format, route
from .schema import arrow_schema, column_fields, columns, create_table_sql, docs_markdown

_LAZY = {"validate_chunk": "batch", "ValidatedChunk": "batch", "Reject": "batch"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONTRACTS",
    "LINEAGE_COLUMNS",
    "ChildTable",
    "Contract",
    "Field",
    "FileRejected",
    "MalformedRecord",
    "Reject",
    "Route",
    "ValidatedChunk",
    "arrow_schema",
    "column_fields",
    "columns",
    "create_table_sql",
    "docs_markdown",
    "file_format",
    "iter_records",
    "reasons",
    "route",
    "validate_chunk",
    "validate_record",
]
