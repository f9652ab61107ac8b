"""Cleanse many days in one pass of the contract: whole days are gathered into a batch of at most
``source.cleanse_batch_rows`` rows, the contract's per-column work runs once over the batch, and the
results are split back by day, exactly as one call per day would give them. Days whose raw columns
differ (a column renamed, retyped) are judged in separate passes, each against its own columns. A
text value is judged once per run, whatever the number of batches (``ValueMemo``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from batch_training.cleansing.contract import CleansingResult, split_results
from batch_training.cleansing.rules import ValueMemo
from batch_training.spec.tables import TableSpec


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    return a.names == b.names and all(x.type == y.type for x, y in zip(a, b))


def batches(days: Iterable[tuple[str, pa.Table]], max_rows: int) -> Iterator[list[tuple[str, pa.Table]]]:
    """Consecutive days with the same raw columns, at most ``max_rows`` rows together (a bigger day
    alone). ``days`` is read lazily: at most one batch and one day are held."""
    batch: list[tuple[str, pa.Table]] = []
    rows = 0
    for day, table in days:
        if batch and (rows + table.num_rows > max_rows or not _same_columns(batch[-1][1].schema, table.schema)):
            yield batch
            batch, rows = [], 0
        batch.append((day, table))
        rows += table.num_rows
    if batch:
        yield batch


def cleanse_batch(batch: list[tuple[str, pa.Table]], spec: TableSpec,
                  memo: ValueMemo | None = None) -> list[tuple[str, CleansingResult]]:
    """One pass of the contract over a batch of days with the same raw columns."""
    if not batch:
        return []
    table = batch[0][1] if len(batch) == 1 else pa.concat_tables([t for _, t in batch]).combine_chunks()
    results = split_results(table, spec, [t.num_rows for _, t in batch], memo)
    return [(day, result) for (day, _), result in zip(batch, results)]


def cleanse_days(days: Iterable[tuple[str, pa.Table]], spec: TableSpec) -> Iterator[tuple[str, CleansingResult]]:
    """``(day, raw table)`` pairs in, ``(day, result)`` pairs out, in the same order."""
    memo = ValueMemo()
    for batch in batches(days, spec.source.cleanse_batch_rows):
        yield from cleanse_batch(batch, spec, memo)
