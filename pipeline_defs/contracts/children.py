"""Child tables from a list field (orders.items → order_items), vectorised over all items of a chunk.

Items of every row are flattened into one list, each child field becomes one column (``vector.py``),
and per-item outcome codes are reduced to the first failing item of each parent row — the same
item-by-item, field-by-field order as ``record.validate_record``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import values as V
from .model import ChildTable, Contract, Field
from .schema import arrow_schema, columns
from .vector import convert_column

_TEN_THOUSAND = pa.scalar(V.Decimal(10000), pa.decimal128(5, 0))


@dataclass
class ChildResult:
    parent: np.ndarray  # parent row index of each item
    line_no: np.ndarray  # 1-based position in the parent's list
    arrays: dict[str, pa.Array]  # child field -> typed values, one per item
    extra: pa.Array  # unknown item keys as canonical JSON
    extra_fields: Counter  # "items.<key>" -> items that had it
    extra_bad: np.ndarray  # per parent row: an item's unknown keys are not storable as JSON


def _lists(f: Field, raw: list | None, n: int) -> tuple[list[list], np.ndarray]:
    lists: list[list] = [[]] * n
    codes = np.zeros(n, np.int8)
    for i, v in enumerate(raw or ()):
        if v.__class__ is list and v and all(x.__class__ is dict for x in v):
            lists[i] = v
            continue
        try:
            lists[i] = V.parse_list(v)
        except V.Bad as bad:
            if bad.kind != V.MISSING or f.required:
                codes[i] = bad.kind
    if raw is None and f.required:
        codes[:] = V.MISSING
    return lists, codes


def check_children(contract: Contract, f: Field, raw: list | None, n: int, out) -> ChildResult:
    """Validate list field ``f`` of every row; merge reasons into ``out`` (a batch.Outcome)."""
    child = contract.child(f.child)
    lists, list_codes = _lists(f, raw, n)
    counts = np.fromiter(map(len, lists), np.int64, n)
    flat = [item for items in lists for item in items]
    m = len(flat)
    parent = np.repeat(np.arange(n), counts)
    line_no = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts) + 1

    present: set = set().union(*flat) if m else set()
    item_code = np.zeros(m, np.int32)
    arrays = {}
    for cf in child.fields:
        values = [item.get(cf.name) for item in flat] if cf.name in present else None
        arrays[cf.name], codes = convert_column(cf, values, m)
        if codes.any():
            lut = np.array([0] + [out.index(f"{V.KINDS[k]}:{f.name}.{cf.name}") for k in (1, 2, 3)], np.int32)
            np.copyto(item_code, lut[codes], where=(item_code == 0) & (codes != 0))

    parent_code = np.zeros(n, np.int32)
    if list_codes.any():
        lut = np.array([0] + [out.index(f"{V.KINDS[k]}:{f.name}") for k in (1, 2, 3)], np.int32)
        parent_code = lut[list_codes]
    failed = np.flatnonzero(item_code)
    if failed.size:  # first failing item of each parent
        rows, first = np.unique(parent[failed], return_index=True)
        by_item = np.zeros(n, np.int32)
        by_item[rows] = item_code[failed[first]]
        np.copyto(parent_code, by_item, where=parent_code == 0)
    out.merge_codes(parent_code)

    known = {cf.name for cf in child.fields}
    counter: Counter = Counter()
    extra_bad = np.zeros(n, bool)
    texts: list | None = None
    if not present <= known:
        texts = [None] * m
        for j, item in enumerate(flat):
            if known.issuperset(item):
                continue
            unknown = {k: v for k, v in item.items() if k not in known}
            counter.update(f"{f.name}.{k}" for k in unknown)
            try:
                texts[j] = V.canonical_json(unknown)
            except V.Bad:
                extra_bad[parent[j]] = True
    extra = pa.nulls(m, pa.string()) if texts is None else pa.array(texts, pa.string())
    return ChildResult(parent, line_no, arrays, extra, counter, extra_bad)


def _units(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """decimal128(18,4) → (int64 count of 1e-4 units, valid mask)."""
    units = pc.cast(pc.multiply(arr, _TEN_THOUSAND), pa.int64())
    return pc.fill_null(units, 0).to_numpy(zero_copy_only=False), pc.is_valid(arr).to_numpy(zero_copy_only=False)


def totals_mismatch(child: ChildTable, arrays: dict[str, pa.Array], result: ChildResult) -> np.ndarray:
    """Rows whose total differs from sum(quantity x price) by more than the tolerance (exactly)."""
    total_field, qty_field, price_field, tolerance = child.total
    total, has_total = _units(arrays[total_field])
    qty = pc.fill_null(result.arrays[qty_field], 0).to_numpy(zero_copy_only=False)
    price, _ = _units(result.arrays[price_field])
    n, limit = len(total), int(tolerance / V.QUANTUM)
    approx = np.abs(qty.astype(float) * price.astype(float))
    if not approx.size or np.bincount(result.parent, weights=approx, minlength=n).max() < 2.0**62:
        sums = np.zeros(n, np.int64)
        np.add.at(sums, result.parent, qty * price)
        return has_total & (np.abs(total - sums) > limit)
    sums_py = [0] * n  # products or sums beyond int64: exact Python integers
    for p, q, u in zip(result.parent.tolist(), qty.tolist(), price.tolist()):
        sums_py[p] += q * u
    far = np.array([abs(t - s) > limit for t, s in zip(total.tolist(), sums_py)], bool)
    return has_total & far


def child_table(contract: Contract, child: ChildTable, arrays: dict, result: ChildResult, keep: np.ndarray) -> pa.Table:
    """The child table's rows for the parent rows that are kept."""
    item_keep = keep[result.parent]
    mask = pa.array(item_keep)
    taken = pa.array(result.parent[item_keep], pa.int64())
    cols = {k: arrays[k].take(taken) for k in contract.key}
    cols["line_no"] = pa.array(result.line_no[item_keep], pa.int64())
    cols.update({name: arr.filter(mask) for name, arr in result.arrays.items()})
    cols["extra"] = result.extra.filter(mask)
    return pa.Table.from_arrays(
        [cols[c] for c in columns(contract, child.table)], schema=arrow_schema(contract, child.table)
    )
