"""Declaration types for data contracts (stdlib only).

A dataset is declared once as a :class:`Contract` of :class:`Field` objects. Validation, the Arrow and
Postgres schemas, routing prefixes and the docs table are all derived from these objects, so adding a
dataset means adding a declaration in ``datasets.py`` — never a new pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal
from functools import cached_property

TYPES: dict[str, str] = {  # field type -> PostgreSQL column type
    "string": "text",
    "integer": "bigint",
    "decimal": "numeric(18,4)",
    "number": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
    "json": "jsonb",
}

# Appended by the loader (not by validation): declared in the DDL, excluded from columns()/arrow_schema().
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_key", "_partition")

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def camel_case(name: str) -> str:
    """``load_time_ms`` -> ``loadTimeMs``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Field:
    """One input field / output column and its rules.

    Rules are checked in this order, and the first one broken names the reject reason:
    ``missing:<name>`` (absent, null or blank while required), ``invalid:<name>`` (wrong type or
    format, not in ``choices``, not matching ``pattern``, naive timestamp where ``tz_aware``),
    ``out_of_range:<name>`` (outside ``minimum``/``maximum``, or a decimal beyond numeric(18,4)).
    """

    name: str
    type: str
    required: bool = False
    description: str = ""
    case: str | None = None  # "lower" / "upper": applied after trimming, before choices/pattern
    choices: tuple[str, ...] | frozenset[str] | None = None
    choices_name: str | None = None  # docs label for long code lists, e.g. "ISO-4217"
    pattern: str | None = None  # full-match regex (RE2 and Python compatible)
    pattern_name: str | None = None  # docs label, e.g. "email"
    minimum: int | Decimal | None = None
    exclusive_minimum: bool = False
    maximum: int | Decimal | None = None
    tz_aware: bool = False  # timestamp text must carry Z or an offset
    epoch: bool = False  # timestamp may also be epoch seconds / milliseconds (by magnitude)
    object_only: bool = False  # json value must be an object
    aliases: tuple[str, ...] = ()  # other accepted input names (e.g. camelCase)
    child: str | None = None  # this list field feeds the named ChildTable, not a column
    applies_to: tuple[str, ...] = ()  # docs only: event types a property belongs to

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"field {self.name!r}: unknown type {self.type!r}")
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"field {self.name!r}: not a snake_case identifier")
        if self.case not in (None, "lower", "upper"):
            raise ValueError(f"field {self.name!r}: case must be 'lower' or 'upper'")
        if self.type != "string" and (self.case or self.choices is not None or self.pattern):
            raise ValueError(f"field {self.name!r}: case/choices/pattern apply to strings only")
        if self.type not in ("integer", "decimal", "number") and (self.minimum, self.maximum) != (None, None):
            raise ValueError(f"field {self.name!r}: minimum/maximum apply to numbers only")
        if (self.tz_aware or self.epoch) and self.type != "timestamp":
            raise ValueError(f"field {self.name!r}: tz_aware/epoch apply to timestamps only")

    @property
    def pg_type(self) -> str:
        return TYPES[self.type]

    @cached_property
    def choice_set(self) -> frozenset[str] | None:
        return None if self.choices is None else frozenset(self.choices)

    @cached_property
    def regex(self) -> re.Pattern | None:
        return None if self.pattern is None else re.compile(self.pattern)

    @property
    def has_range(self) -> bool:
        return self.minimum is not None or self.maximum is not None

    def with_input_names(self, camel: bool) -> tuple[str, ...]:
        """Input names in lookup priority: the name, its camelCase form, then explicit aliases."""
        names = [self.name]
        if camel and camel_case(self.name) != self.name:
            names.append(camel_case(self.name))
        names += [a for a in self.aliases if a not in names]
        return tuple(names)


@dataclass(frozen=True)
class ChildTable:
    """Rows exploded from a list field of the parent (orders.items -> order_items).

    Columns: the parent's key columns, ``line_no`` (1-based position in the list), ``fields``,
    ``extra``. ``total`` = (parent total field, quantity field, price field, tolerance): the parent's
    total must equal the sum of quantity x price within the tolerance, else ``total_mismatch``.
    """

    table: str
    source_field: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()
    description: str = ""
    total: tuple[str, str, str, Decimal] | None = None


@dataclass(frozen=True)
class Contract:
    """A dataset: where its files land, what a valid record is, and where valid rows go."""

    name: str
    source: str
    table: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    description: str = ""
    partition_field: str | None = None  # informational: the field carrying business time
    properties: tuple[Field, ...] = ()  # typed, optional; stored together as json column `properties`
    children: tuple[ChildTable, ...] = ()
    camel_case: bool = False  # accept camelCase spellings of every field name
    derive_id: str | None = None  # field filled with a deterministic uuid5 when missing
    folder_aliases: tuple[str, ...] = ()  # extra dataset folder names under <source>/
    prefixes: tuple[str, ...] = dc_field(default=())  # derived when empty

    def __post_init__(self) -> None:
        names = [f.name for f in self.all_fields]
        if len(names) != len(set(names)):
            raise ValueError(f"contract {self.name!r}: duplicate field names")
        for k in (*self.key, *filter(None, (self.derive_id, self.partition_field))):
            if k not in names:
                raise ValueError(f"contract {self.name!r}: {k!r} is not a field")
        for f in self.fields:
            if f.child and f.child not in {c.table for c in self.children}:
                raise ValueError(f"contract {self.name!r}: field {f.name!r} feeds unknown table {f.child!r}")
        if not self.prefixes:
            folders = dict.fromkeys([self.name, self.name.replace("_", "-"), *self.folder_aliases])
            derived = tuple(f"{self.source}/{f}/" for f in folders) + (f"{self.source}-data/",)
            object.__setattr__(self, "prefixes", derived)

    @property
    def all_fields(self) -> tuple[Field, ...]:
        return self.fields + self.properties

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def has_updated_at(self) -> bool:
        return any(f.name == "updated_at" for f in self.fields)

    @property
    def column_fields(self) -> tuple[Field, ...]:
        """Declared fields stored as columns of the main table (list fields feed children)."""
        return tuple(f for f in self.fields if f.child is None)

    def child(self, table: str) -> ChildTable:
        for c in self.children:
            if c.table == table:
                return c
        raise KeyError(f"contract {self.name!r} has no table {table!r}")

    @cached_property
    def input_names(self) -> dict[str, tuple[str, ...]]:
        """field name -> accepted input names, in lookup priority."""
        return {f.name: f.with_input_names(self.camel_case) for f in self.all_fields}

    @cached_property
    def known_inputs(self) -> frozenset[str]:
        """Every input name that is not an unknown extra field."""
        return frozenset(n for names in self.input_names.values() for n in names)

    @cached_property
    def primary_inputs(self) -> frozenset[str]:
        return frozenset(f.name for f in self.all_fields)
