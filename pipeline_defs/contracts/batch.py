"""Vectorised validation of a chunk of records into Arrow tables plus rejects.

The verdicts, reasons and values equal :func:`record.validate_record` applied row by row (a parity
test holds them together); this module only makes it fast: each field becomes one Arrow column
checked with pyarrow.compute (see ``vector.py``), per-row outcome codes are combined with numpy in
the documented check order, and valid rows are selected with one filter.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import field as dc_field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import values as V
from .children import ChildResult, check_children, child_table, totals_mismatch
from .jsontext import properties_json
from .limits import DEFAULT_LIMITS, TOO_LARGE_COLUMNS, TOO_LARGE_EXTRA, Limits
from .model import Contract
from .record import INVALID_EXTRA, MALFORMED, TOTAL_MISMATCH
from .schema import arrow_schema, columns
from .vector import convert_column


@dataclass
class Reject:
    """One rejected row: where it was, why, and what it was (for quarantine)."""

    row: int  # first_row + index in the chunk
    reason: str
    record: str  # the raw record as JSON text (a malformed line as it was)


@dataclass
class ValidatedChunk:
    """rows_in == tables[contract.table].num_rows + len(rejects). ``extra_fields`` counts every
    record of the chunk (rejected ones too); unknown item keys count as ``items.<key>``."""

    tables: dict[str, pa.Table]  # table name -> valid rows, schema == arrow_schema(contract, table)
    rejects: list[Reject]
    extra_fields: Counter = dc_field(default_factory=Counter)  # unknown field -> rows that had it
    rows_in: int = 0


class Outcome:
    """Per-row reason codes; the first reason recorded for a row wins."""

    def __init__(self, n: int):
        self.code = np.zeros(n, np.int32)
        self.names: list[str | None] = [None]
        self._index: dict[str, int] = {}

    def index(self, reason: str) -> int:
        if reason not in self._index:
            self._index[reason] = len(self.names)
            self.names.append(reason)
        return self._index[reason]

    def flag(self, mask: np.ndarray, reason: str) -> None:
        if mask.any():
            np.copyto(self.code, self.index(reason), where=mask & (self.code == 0))

    def merge(self, codes: np.ndarray, name: str) -> None:
        """Merge a field's 0/1/2/3 codes as missing:/invalid:/out_of_range:<name>."""
        if codes.any():
            lut = np.array([0] + [self.index(f"{V.KINDS[k]}:{name}") for k in (1, 2, 3)], np.int32)
            self.merge_codes(lut[codes])

    def merge_codes(self, codes: np.ndarray) -> None:
        np.copyto(self.code, codes, where=(self.code == 0) & (codes != 0))

    @property
    def ok(self) -> np.ndarray:
        return self.code == 0


def gather(rows: list[dict], names: tuple[str, ...], present: set) -> list | None:
    """A field's raw values: per row the first non-null among its input names (None: absent)."""
    names = [name for name in names if name in present]
    if not names:
        return None
    col = [r.get(names[0]) for r in rows]
    for alt in names[1:]:
        col = [v if v is not None else r.get(alt) for v, r in zip(col, rows)]
    return col


def validate_chunk(contract: Contract, records: list, first_row: int = 0,
                   limits: Limits = DEFAULT_LIMITS) -> ValidatedChunk:
    n = len(records)
    out = Outcome(n)
    rows, is_dict = records, None
    if not all(r.__class__ is dict for r in records):
        is_dict = np.fromiter((isinstance(r, dict) for r in records), bool, n)
        bad = np.flatnonzero(~is_dict)
        why = np.array([getattr(records[i], "reason", MALFORMED) for i in bad], object)
        for reason in dict.fromkeys(why):  # malformed:record, or the limit a line broke
            mask = np.zeros(n, bool)
            mask[bad[why == reason]] = True
            out.flag(mask, reason)
        rows = [r if isinstance(r, dict) else {} for r in records]
    if n and max(map(len, rows)) > limits.columns:  # too wide: judged on its width alone
        wide = np.fromiter((len(r) > limits.columns for r in rows), bool, n)
        out.flag(wide, TOO_LARGE_COLUMNS)
        is_dict = (np.ones(n, bool) if is_dict is None else is_dict) & ~wide
        rows = [{} if w else r for r, w in zip(rows, wide)]
    present: set = set().union(*rows) if n else set()
    arrays: dict[str, pa.Array] = {}
    children: dict[str, ChildResult] = {}
    names = contract.input_names

    for f in contract.fields:
        raw = gather(rows, names[f.name], present)
        if f.name == contract.derive_id:
            raw = _derive_ids(rows, raw, n, is_dict)
        if f.child:
            children[f.child] = check_children(contract, f, raw, n, out)
            continue
        arrays[f.name], codes = convert_column(f, raw, n)
        out.merge(codes, f.name)

    if contract.properties:
        props = {}
        for f in contract.properties:
            props[f.name], codes = convert_column(f, gather(rows, names[f.name], present), n)
            out.merge(codes, f.name)
        arrays["properties"] = properties_json(contract.properties, props)

    for child in contract.children:
        if child.total:
            out.flag(totals_mismatch(child, arrays, children[child.table]) & out.ok, TOTAL_MISMATCH)

    extra_fields: Counter = Counter()
    arrays["extra"] = _extras(contract, rows, present, out, extra_fields)
    for result in children.values():
        extra_fields.update(result.extra_fields)
        out.flag(result.extra_bad, INVALID_EXTRA)
    if extra_fields:
        lengths = pc.fill_null(pc.utf8_length(arrays["extra"]), 0).to_numpy(zero_copy_only=False)
        out.flag(lengths > limits.extra_chars, TOO_LARGE_EXTRA)

    keep = out.ok
    tables = {contract.table: _table(contract, contract.table, arrays, keep)}
    for child in contract.children:
        tables[child.table] = child_table(contract, child, arrays, children[child.table], keep)
    rejects = [
        Reject(first_row + int(i), out.names[out.code[i]], V.raw_json(records[i])) for i in np.flatnonzero(~keep)
    ]
    return ValidatedChunk(tables=tables, rejects=rejects, extra_fields=extra_fields, rows_in=n)


def _table(contract: Contract, table: str, arrays: dict, keep: np.ndarray) -> pa.Table:
    full = pa.Table.from_arrays([arrays[c] for c in columns(contract, table)], schema=arrow_schema(contract, table))
    return full if keep.all() else full.filter(pa.array(keep))


def _derive_ids(rows: list[dict], raw: list | None, n: int, is_dict: np.ndarray | None) -> list:
    """Fill blank ids with values.derive_id(record) (only for rows that are records)."""
    raw = [None] * n if raw is None else raw
    for i, v in enumerate(raw):
        if (v is None or (v.__class__ is str and not v.strip())) and (is_dict is None or is_dict[i]):
            raw[i] = V.derive_id(rows[i])
    return raw


def _extras(contract: Contract, rows: list[dict], present: set, out: Outcome, counter: Counter) -> pa.Array:
    """The ``extra`` column: unknown fields as canonical JSON; counts them into ``counter``."""
    n = len(rows)
    known = contract.known_inputs
    if present <= known:
        return pa.nulls(n, pa.string())
    texts: list = [None] * n
    bad = np.zeros(n, bool)
    for i, r in enumerate(rows):
        if known.issuperset(r):
            continue
        unknown = {k: v for k, v in r.items() if k not in known}
        counter.update(unknown.keys())
        try:
            texts[i] = V.canonical_json(unknown)
        except V.Bad:
            bad[i] = True
    out.flag(bad, INVALID_EXTRA)
    return pa.array(texts, pa.string())


