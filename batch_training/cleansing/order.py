"""One canonical row order for a table. A DWH returns rows in whatever order its scan and sort
produce (PostgreSQL's differs between two loads of the same rows), so the cleansed asset writes its
rows sorted by their values (``cleanse`` itself keeps raw order, which its row numbers refer to): the
same rows give the same table, the same Parquet bytes and the same data version downstream."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _sortable(field: pa.Field) -> bool:
    t = field.type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)
            or pa.types.is_temporal(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def canonical_order(table: pa.Table) -> pa.Table:
    """The rows sorted by every sortable column, left to right, nulls last: any order of the same rows
    gives an equal table (columns of nested types only ride along)."""
    keys = [(f.name, "ascending") for f in table.schema if _sortable(f)]
    if table.num_rows < 2 or not keys:
        return table
    return table.take(pc.sort_indices(table, sort_keys=keys))
