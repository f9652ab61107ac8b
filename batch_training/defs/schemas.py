"""``dagster/column_schema`` of a table's raw and cleansed assets, from its column contract.

On the asset definitions the contract's view (shown before anything ran): raw columns with the type
they must arrive as (``raw_type``, else "as the DWH holds it"), cleansed columns with their clean
type and the contract's rules as constraints. On each day's materialization the types actually
written, with the same rules; a raw column the contract does not know is marked so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import dagster as dg
import pyarrow as pa

from batch_training.cleansing.schema_reference import type_name
from batch_training.spec import ColumnContract, TableSpec

COLUMN_SCHEMA = "dagster/column_schema"
Stage = Literal["raw", "cleansed"]


def _rules(c: ColumnContract) -> list[str]:
    rules = [f">= {c.min}"] if c.min is not None else []
    rules += [f"<= {c.max}"] if c.max is not None else []
    rules += [f"one of {', '.join(c.allowed)}"] if c.allowed is not None else []
    return rules + (["an HHMM clock time"] if c.clock else [])


def _column(name: str, type_: str, c: ColumnContract | None, stage: Stage) -> dg.TableColumn:
    if c is None:
        return dg.TableColumn(name, type_, description="not in the column contract")
    if stage == "raw":  # raw rows are as the DWH holds them: the contract is what cleansing makes of them
        return dg.TableColumn(name, type_, description=f"cleansed as {c.type} ({'; '.join(_rules(c)) or 'no rules'})")
    return dg.TableColumn(name, type_, constraints=dg.TableColumnConstraints(nullable=c.nullable, other=_rules(c)))


def contract_schema(table: TableSpec, stage: Stage) -> dg.TableSchema:
    """The columns the contract declares, typed as the stage holds them."""
    return dg.TableSchema(columns=[
        _column(name, c.type if stage == "cleansed" else c.raw_type or "as the DWH holds it", c, stage)
        for name, c in table.columns.items()])


def written_schema(schema: pa.Schema, table: TableSpec, stage: Stage) -> dg.TableSchema:
    """The columns of one written day, with their Arrow types and the contract's rules."""
    return dg.TableSchema(columns=[_column(f.name, type_name(f.type), table.columns.get(f.name), stage) for f in schema])


def schema_describer(table: TableSpec, stage: Stage) -> Callable[[pa.Schema], dg.TableSchema]:
    """``written_schema`` of one table and stage, built once per distinct Arrow schema (a run's days share one)."""
    return lru_cache(maxsize=16)(lambda schema: written_schema(schema, table, stage))
