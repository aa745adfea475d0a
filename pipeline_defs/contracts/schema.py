"""Schemas derived from a contract: column lists, Arrow/Parquet schema, PostgreSQL DDL, docs table.

Only :func:`arrow_schema` / :func:`arrow_type` need pyarrow, and they import it lazily, so the CDK
app and the Lambda functions can use the rest without it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .model import LINEAGE_COLUMNS, Contract, Field

EXTRA = Field("extra", "json", description="unknown input fields, kept as they arrived (null when none)")
PROPERTIES = Field("properties", "json", description="typed type-specific fields (null when none)")
LINE_NO = Field("line_no", "integer", required=True, description="1-based position in the parent's list")
LINEAGE_DDL = {"_source_key": "text NOT NULL", "_partition": "date NOT NULL"}

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def table_names(contract: Contract) -> tuple[str, ...]:
    return (contract.table,) + tuple(c.table for c in contract.children)


def table_key(contract: Contract, table: str | None = None) -> tuple[str, ...]:
    table = table or contract.table
    return contract.key if table == contract.table else contract.child(table).key


def column_fields(contract: Contract, table: str | None = None) -> tuple[Field, ...]:
    """The Fields of a table's columns, in column order (lineage columns excluded)."""
    table = table or contract.table
    if table == contract.table:
        return contract.column_fields + ((PROPERTIES,) if contract.properties else ()) + (EXTRA,)
    child = contract.child(table)
    by_name = {f.name: f for f in contract.fields}
    parent = tuple(replace(by_name[k], required=True) for k in contract.key)
    return parent + (LINE_NO,) + child.fields + (EXTRA,)


def columns(contract: Contract, table: str | None = None) -> list[str]:
    """Column names in the order of :func:`arrow_schema` (no lineage columns)."""
    return [f.name for f in column_fields(contract, table)]


def arrow_type(field: Field):
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "decimal": pa.decimal128(18, 4),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),  # canonical JSON text
    }[field.type]


def arrow_schema(contract: Contract, table: str | None = None):
    """The Arrow (and Parquet) schema of a table; required fields are non-nullable."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(f.name, arrow_type(f), nullable=not f.required) for f in column_fields(contract, table)]
    )


def create_table_sql(contract: Contract, schema: str = "warehouse") -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the main table and its children, then one index per table
    on ``_partition`` (the loader replaces a partition at a time)."""
    if not _IDENT.fullmatch(schema):
        raise ValueError(f"not a plain SQL identifier: {schema!r}")
    tables, indexes = [], []
    for table in table_names(contract):
        lines = [
            f"    {f.name} {f.pg_type}{' NOT NULL' if f.required else ''}"
            for f in column_fields(contract, table)
        ]
        lines += [f"    {name} {LINEAGE_DDL[name]}" for name in LINEAGE_COLUMNS]
        lines.append(f"    PRIMARY KEY ({', '.join(table_key(contract, table))})")
        tables.append(f"CREATE TABLE IF NOT EXISTS {schema}.{table} (\n" + ",\n".join(lines) + "\n)")
        indexes.append(f"CREATE INDEX IF NOT EXISTS {table}__partition_idx ON {schema}.{table} (_partition)")
    return tables + indexes


def describe_field(f: Field) -> str:
    """``name*`` plus its rules in parentheses, for docs."""
    bits = [] if f.type == "string" else [f.type]
    if f.choices_name:
        bits.append(f.choices_name)
    elif f.choices:
        bits.append("/".join(f.choices))
    if f.pattern_name:
        bits.append(f.pattern_name)
    if f.case:
        bits.append(f"{f.case}-case")
    if f.minimum is not None:
        bits.append(f"{'>' if f.exclusive_minimum else '≥'} {f.minimum}")
    if f.maximum is not None:
        bits.append(f"≤ {f.maximum}")
    if f.tz_aware:
        bits.append("tz-aware")
    if f.epoch:
        bits.append("ISO-8601 or epoch s/ms")
    if f.object_only:
        bits.append("object")
    if f.aliases:
        bits.append("alias " + "/".join(f.aliases))
    if f.applies_to:
        bits.append("/".join(f.applies_to))
    name = f.name + ("*" if f.required else "")
    return f"{name} ({', '.join(bits)})" if bits else name


def _fields_cell(contract: Contract) -> str:
    totals = {c.total[0]: c for c in contract.children if c.total}
    parts = []
    for f in contract.fields:
        if f.child:
            child = contract.child(f.child)
            inner = ", ".join(describe_field(cf) for cf in child.fields)
            parts.append(f"{f.name}{'*' if f.required else ''} (non-empty list of {{{inner}}} → `{child.table}`)")
        elif f.name in totals:
            _, qty, price, tol = totals[f.name].total
            text = describe_field(f)
            rule = f"= Σ {qty}×{price} ± {tol}"
            parts.append(text[:-1] + f", {rule})" if text.endswith(")") else f"{text} ({rule})")
        else:
            parts.append(describe_field(f))
    if contract.properties:
        parts.append("properties (json: " + ", ".join(describe_field(f) for f in contract.properties) + ")")
    parts.append("extra (json: unknown fields)")
    notes = []
    if contract.camel_case:
        notes.append("camelCase input accepted")
    if contract.derive_id:
        notes.append(f"missing {contract.derive_id} → uuid5 of the record")
    return ", ".join(parts) + (f". {'; '.join(notes)}." if notes else "")


def docs_markdown() -> str:
    """One Markdown table describing every contract, for the README."""
    from .datasets import CONTRACTS

    head = [
        "| dataset | source | key | tables | raw prefixes | fields (* = required) |",
        "|---|---|---|---|---|---|",
    ]
    rows = []
    for c in CONTRACTS.values():
        key = ", ".join(c.key)
        tables = ", ".join(f"`{t}`" for t in table_names(c))
        prefixes = ", ".join(f"`{p}`" for p in c.prefixes)
        rows.append(f"| {c.name} | {c.source} | {key} | {tables} | {prefixes} | {_fields_cell(c).replace('|', '/')} |")
    return "\n".join(head + rows) + "\n"
