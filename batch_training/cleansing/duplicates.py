"""Exact duplicate rows within a table: the second and later copies of an identical raw row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_PRIME = np.uint64(0x100000001B3)
_NULL = np.uint64(1) << np.uint64(63)


def _column_print(column: pa.ChunkedArray) -> np.ndarray | None:
    """A column's values as uint64 (equal values, equal numbers): numbers as they are, a dictionary's
    positions, a string's length; None for a type left to the exact comparison."""
    arr = column.combine_chunks()
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    if pa.types.is_dictionary(arr.type):
        arr = arr.indices
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_binary(arr.type):
        arr = pc.binary_length(arr)
    elif pa.types.is_boolean(arr.type):
        arr = arr.cast(pa.int8())
    elif pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type) or pa.types.is_time(arr.type) \
            or pa.types.is_duration(arr.type):
        arr = arr.view(pa.int32() if arr.type.bit_width == 32 else pa.int64())
    elif not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        try:
            arr = arr.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # an exotic type: left to the exact comparison
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    values = (pc.fill_null(arr, 0) if null is not None else arr).to_numpy(zero_copy_only=False)
    if values.dtype.kind == "f":
        values = values.astype(np.float64, copy=False).view(np.int64)
    values = values.view(np.uint64) if values.dtype.itemsize == 8 else values.astype(np.uint64)
    if null is not None:  # a missing value differs from every present one
        values = np.bitwise_xor(values, _NULL, where=null, out=values.copy())
    return values


def _fingerprint(raw: pa.Table) -> np.ndarray:
    """A cheap 64-bit row fingerprint of every column's ``_column_print`` (equal rows, equal prints)."""
    mixed = np.zeros(raw.num_rows, dtype=np.uint64)
    for column in raw.columns:
        values = _column_print(column)
        if values is not None:
            mixed *= _PRIME
            mixed ^= values
    return mixed


def _exact_duplicates(raw: pa.Table) -> np.ndarray:
    """Later copies among ``raw``'s rows. The columns are renamed by position first, so no user
    column name can collide with the row index added here (nor be two columns of one name)."""
    n = raw.num_rows
    columns = [c.combine_chunks() for c in raw.columns]
    columns = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in columns]
    keys = [f"c{i}" for i in range(len(columns))]
    keyed = pa.table(columns + [pa.array(np.arange(n, dtype=np.int64))], names=keys + ["row"])
    mask = np.ones(n, dtype=bool)
    try:
        first = keyed.group_by(keys, use_threads=False).aggregate([("row", "min")])["row_min"].to_numpy()
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):  # a type Arrow cannot group by (nested, ...)
        seen: dict[str, int] = {}
        for i, record in enumerate(raw.to_pylist()):
            seen.setdefault(repr(list(record.values())), i)
        first = np.fromiter(seen.values(), dtype=np.int64)
    mask[first] = False
    return mask


def duplicate_mask(raw: pa.Table) -> np.ndarray:
    """True for the second and later copies of an identical row (nulls compare equal).

    Rows are first bucketed by a cheap fingerprint; only rows that share one are compared exactly,
    so a day without duplicates costs one pass over the numbers.
    """
    n = raw.num_rows
    mask = np.zeros(n, dtype=bool)
    if n < 2 or raw.num_columns == 0:
        return mask
    prints = _fingerprint(raw)
    candidates = np.flatnonzero(pd.Series(prints).duplicated(keep=False).to_numpy())  # a hash table, no sort
    if len(candidates):
        mask[candidates] = _exact_duplicates(raw.take(pa.array(candidates, pa.int64())))
    return mask


