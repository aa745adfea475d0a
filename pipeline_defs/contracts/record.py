"""Per-record validation, stdlib only — what the Lambda functions run, and the reference for batch.

Check order (the first rule broken is the one reject reason, see :func:`reasons`):

1. ``malformed:record`` — the record is not a JSON object (or was an unparseable line; a line over a
   limit has the limit's reason, see ``limits.py``); ``too_large:columns`` — more top-level keys than
   ``Limits.columns``;
2. declared fields in declaration order, each ``missing`` → ``invalid`` → ``out_of_range``; a list
   field feeding a child table is checked at its position: ``missing:items`` (absent/empty),
   ``invalid:items`` (not a list of objects), then item by item, field by field
   (``out_of_range:items.quantity``);
3. typed properties (web_events) in declaration order;
4. cross-field rules: ``total_mismatch``;
5. ``invalid:extra`` — unknown fields that cannot be stored as JSON (e.g. NaN); ``too_large:extra`` —
   their canonical JSON is longer than ``Limits.extra_chars``.

Before the checks: a field's value is the first non-null among its input names (``event_type``,
``eventType``, aliases such as ``timestamp`` → ``occurred_at``); text is trimmed and blank text is
null. A blank ``derive_id`` field (web_events.event_id) is filled with uuid5 of the record's
canonical JSON (:func:`canonical.derive_id`), so a redelivered record gets the same id and dedupes
on the key — and two genuinely identical events without ids collapse into one.
"""

from __future__ import annotations

from .canonical import MalformedRecord
from .limits import DEFAULT_LIMITS, TOO_DEEP, TOO_LARGE_COLUMNS, TOO_LARGE_EXTRA, TOO_LARGE_RECORD, Limits
from .model import Contract, Field
from .values import (
    KINDS,
    QUANTUM,
    Bad,
    canonical_json,
    clean,
    convert,
    derive_id,
    parse_list,
)

MALFORMED = "malformed:record"
TOTAL_MISMATCH = "total_mismatch"
INVALID_EXTRA = "invalid:extra"


def _kinds(f: Field) -> tuple[str, ...]:
    kinds = ("missing",) if f.required else ()
    kinds += ("invalid",)
    if f.has_range or f.type == "decimal":
        kinds += ("out_of_range",)
    return kinds


def reasons(contract: Contract) -> tuple[str, ...]:
    """Every reject reason the contract can produce, in check order."""
    out = [MALFORMED, TOO_LARGE_RECORD, TOO_DEEP, TOO_LARGE_COLUMNS]
    for f in contract.fields:
        out += [f"{k}:{f.name}" for k in _kinds(f)]
        if f.child:
            child = contract.child(f.child)
            out += [f"{k}:{f.name}.{cf.name}" for cf in child.fields for k in _kinds(cf)]
    for f in contract.properties:
        out += [f"{k}:{f.name}" for k in _kinds(f)]
    if any(c.total for c in contract.children):
        out.append(TOTAL_MISMATCH)
    out += [INVALID_EXTRA, TOO_LARGE_EXTRA]
    return tuple(out)


def get_input(record: dict, names: tuple[str, ...]):
    """The first non-null value among a field's accepted input names."""
    value = record.get(names[0])
    for name in names[1:]:
        if value is not None:
            break
        value = record.get(name)
    return value


def item_total_units(quantity: int, unit_price) -> int:
    """quantity x unit_price in 1e-4 units (exact)."""
    return quantity * int(unit_price.scaleb(4))


def validate_record(contract: Contract, record, limits: Limits = DEFAULT_LIMITS) -> tuple[dict | None, str | None]:
    """``(row, None)`` with plain Python values, or ``(None, reason)``.

    The row has the main table's columns (json columns as canonical JSON text, timestamps as aware
    UTC datetimes, decimals as Decimal) plus, for a contract with children, one key per child
    table (e.g. ``"order_items"``) holding that table's rows.
    """
    if not isinstance(record, dict):
        return None, record.reason if isinstance(record, MalformedRecord) else MALFORMED
    if len(record) > limits.columns:
        return None, TOO_LARGE_COLUMNS
    names = contract.input_names
    row: dict = {}
    lists: dict[str, list[dict]] = {}
    extra_ok = True
    for f in contract.fields:
        raw = get_input(record, names[f.name])
        if f.name == contract.derive_id and clean(raw) is None:
            raw = derive_id(record)
        if f.child:
            items, reason, items_extra_ok = _check_items(contract, f, raw)
            if reason:
                return None, reason
            lists[f.child] = items
            extra_ok = extra_ok and items_extra_ok
            continue
        try:
            row[f.name] = convert(f, raw)
        except Bad as bad:
            return None, f"{KINDS[bad.kind]}:{f.name}"
    if contract.properties:
        props = {}
        for f in contract.properties:
            try:
                value = convert(f, get_input(record, names[f.name]))
            except Bad as bad:
                return None, f"{KINDS[bad.kind]}:{f.name}"
            if value is not None:
                props[f.name] = value
        row["properties"] = canonical_json(props) if props else None
    for child in contract.children:
        if child.total and not _total_ok(child, row, lists[child.table]):
            return None, TOTAL_MISMATCH
    unknown = {k: v for k, v in record.items() if k not in contract.known_inputs}
    try:
        row["extra"] = canonical_json(unknown) if unknown else None
    except Bad:
        extra_ok = False
    if not extra_ok:
        return None, INVALID_EXTRA
    if row["extra"] is not None and len(row["extra"]) > limits.extra_chars:
        return None, TOO_LARGE_EXTRA
    for child in contract.children:
        parent = {k: row[k] for k in contract.key}
        row[child.table] = [{**parent, "line_no": i, **item} for i, item in enumerate(lists[child.table], 1)]
    return row, None


def _check_items(contract: Contract, f: Field, raw) -> tuple[list[dict], str | None, bool]:
    """(converted items, reason, whether every item's unknown keys are storable as JSON)."""
    child = contract.child(f.child)
    try:
        items = parse_list(raw)
    except Bad as bad:
        if bad.kind == 1 and not f.required:
            return [], None, True
        return [], f"{KINDS[bad.kind]}:{f.name}", True
    known = {cf.name for cf in child.fields}
    out, extra_ok = [], True
    for item in items:
        converted = {}
        for cf in child.fields:
            try:
                converted[cf.name] = convert(cf, item.get(cf.name))
            except Bad as bad:
                return [], f"{KINDS[bad.kind]}:{f.name}.{cf.name}", True
        unknown = {k: v for k, v in item.items() if k not in known}
        try:
            converted["extra"] = canonical_json(unknown) if unknown else None
        except Bad:
            converted["extra"], extra_ok = None, False
        out.append(converted)
    return out, None, extra_ok


def _total_ok(child, row: dict, items: list[dict]) -> bool:
    total_field, qty, price, tolerance = child.total
    total = row.get(total_field)
    if total is None:
        return True
    units = sum(item_total_units(item[qty], item[price]) for item in items if item[qty] is not None
                and item[price] is not None)
    return abs(int(total.scaleb(4)) - units) <= int((tolerance / QUANTUM))
