"""Build the ``properties`` JSON column column-wise, byte-identical to ``values.canonical_json``.

Serialising one dict per row with json.dumps costs microseconds a row; instead each property
becomes an Arrow column of ``"name":value,`` fragments (ints and bools by Arrow casts, floats by
``float.__repr__`` and text by ``json.encoder.encode_basestring`` — exactly what json.dumps uses —
on the non-null values only), and the fragments are concatenated in sorted-name order.
"""

from __future__ import annotations

from json.encoder import encode_basestring

import pyarrow as pa
import pyarrow.compute as pc

from .values import canonical_json


def _fragments(name: str, arr: pa.Array) -> pa.Array:
    """``"name":<json value>,`` per row, null where the value is null."""
    prefix = encode_basestring(name) + ":"
    t = arr.type
    if pa.types.is_integer(t):
        return pc.binary_join_element_wise(prefix, pc.cast(arr, pa.string()), ",", "")
    if pa.types.is_boolean(t):
        return pc.if_else(arr, prefix + "true,", prefix + "false,")
    valid = pc.is_valid(arr)
    values = arr.filter(valid).to_pylist()
    if pa.types.is_floating(t):
        texts = [f"{prefix}{float.__repr__(v)}," for v in values]
    elif pa.types.is_string(t):
        texts = [f"{prefix}{encode_basestring(v)}," for v in values]
    else:
        texts = [f"{prefix}{canonical_json(v)}," for v in values]
    return pc.replace_with_mask(pa.nulls(len(arr), pa.string()), valid, pa.array(texts, pa.string()))


def properties_json(fields, arrays: dict[str, pa.Array]) -> pa.Array:
    """Canonical JSON object of the non-null properties per row; null where there are none."""
    n = len(next(iter(arrays.values())))
    fragments = [
        _fragments(f.name, arrays[f.name])
        for f in sorted(fields, key=lambda f: f.name)
        if arrays[f.name].null_count < n
    ]
    if not fragments:
        return pa.nulls(n, pa.string())
    # null_handling="skip" mis-sizes the result when a row is all null (Arrow 26), so concatenate
    # with "" for nulls and drop the one trailing comma (no JSON value ends with a comma).
    joined = pc.binary_join_element_wise(*fragments, "", null_handling="replace", null_replacement="")
    joined = pc.utf8_rtrim(joined, ",")
    wrapped = pc.binary_join_element_wise("{", joined, "}", "")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), wrapped)
