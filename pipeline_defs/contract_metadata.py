"""Dagster UI metadata derived from the data contracts (column schema, descriptions)."""

from __future__ import annotations

from dagster import TableColumn, TableColumnConstraints, TableSchema

from pipeline_defs.contracts import LINEAGE_COLUMNS, Contract
from pipeline_defs.contracts.schema import column_fields, table_key


def table_schema(contract: Contract, table: str | None = None) -> TableSchema:
    key = set(table_key(contract, table))
    columns = [
        TableColumn(
            name=f.name, type=f.pg_type, description=f.description or None,
            constraints=TableColumnConstraints(nullable=not f.required, unique=key == {f.name}),
        )
        for f in column_fields(contract, table)
    ]
    columns += [TableColumn(name=name, type="text" if name == "_source_key" else "date",
                            description="lineage: the raw object / business date the row came from")
                for name in LINEAGE_COLUMNS]
    return TableSchema(columns=columns)
