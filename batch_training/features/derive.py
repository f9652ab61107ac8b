"""Derived features on Arrow tables, through the one implementation the prediction server uses
(``batch_training.serving.server.derive``): columns go in as its float64 arrays (dates as days,
timestamps as microseconds UTC, NaN missing), results come back as Arrow columns: a number, an
instant (``timestamp[us, UTC]``) or, for a derived feature the spec uses as a category, its text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.features.columns import needed_derived
from batch_training.serving.server.derive import category_text, derive
from batch_training.spec import TrainingSpec

INSTANT = pa.timestamp("us", tz="UTC")


def as_floats(column: pa.ChunkedArray | pa.Array, kind: str) -> np.ndarray:
    """An Arrow column in the derive module's representation (float64, NaN where missing)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if kind == "date":
        column = column.cast(pa.date32()).cast(pa.int32())
    elif kind == "timestamp":
        column = column.cast(INSTANT).cast(pa.int64())
    return pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False).astype(np.float64)


def to_arrow(values: np.ndarray, kind: str, category: bool) -> pa.Array:
    mask = ~np.isfinite(values)
    if category:
        return pa.array(category_text(values), pa.string())
    if kind == "timestamp":
        return pa.array(np.where(mask, 0, values).astype(np.int64), pa.int64(), mask=mask).cast(INSTANT)
    return pa.array(values, pa.float64(), mask=mask)


def derivable(spec: TrainingSpec, after_joins: bool) -> dict[str, dict]:
    """The recipes to compute before the joins (on main columns only) or after them: those the
    features, the joins' event times or the slices need (an unused recipe's inputs are not read)."""
    return {name: spec.derived[name].model_dump() for name in needed_derived(spec, training=True)
            if spec.needs_join(name) == after_joins}


def add_derived(table: pa.Table, spec: TrainingSpec, after_joins: bool) -> pa.Table:
    """``table`` with the derived features of this phase appended (each at most once)."""
    recipes = {name: r for name, r in derivable(spec, after_joins).items() if name not in table.column_names}
    if not recipes:
        return table
    inputs = {i for r in recipes.values() for i in spec.derived_inputs(r)} - set(recipes)
    kinds = {name: spec.kind_of(name) for name in inputs}
    columns = {name: as_floats(table.column(name), kinds[name]) for name in inputs}
    out = derive(recipes, columns, kinds, spec.source.timezone)
    categorical = set(spec.features.categorical) if spec.features else set()
    for name, values in out.items():
        kind = "timestamp" if recipes[name]["op"] == "timestamp_of" else "number"
        table = table.append_column(name, to_arrow(values, kind, name in categorical))
    return table
