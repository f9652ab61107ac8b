"""Extract days from the DWH: a span of days is read in chunks of whole days, one query per chunk,
and cut into one Arrow table per day. Memory is bounded by a chunk, never by the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.spec.model import SourceSpec
from batch_training.warehouse.base import Warehouse


def day_chunks(first: dt.date, last: dt.date, chunk_days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive (first, last) spans, inclusive, of at most ``chunk_days`` days."""
    start = first
    while start <= last:
        end = min(last, start + dt.timedelta(days=chunk_days - 1))
        yield start, end
        start = end + dt.timedelta(days=1)


def _bounds(source: SourceSpec, first: dt.date, last: dt.date, column_is_timestamp: bool) -> tuple:
    upper = last + dt.timedelta(days=1)
    if not column_is_timestamp:
        return first, upper
    tz = ZoneInfo(source.timezone)
    return (dt.datetime.combine(first, dt.time(), tz), dt.datetime.combine(upper, dt.time(), tz))


def day_numbers(column: pa.ChunkedArray, timezone: str) -> np.ndarray:
    """Days since 1970-01-01 (int32) of each value of a date or timestamp column, in the spec's timezone."""
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:  # naive timestamps are taken as local time of the spec's timezone
            column = pc.assume_timezone(column, timezone)
        column = pc.local_timestamp(column.cast(pa.timestamp(column.type.unit, tz=timezone)))
    return column.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)


def split_by_day(table: pa.Table, partition_column: str, timezone: str) -> dict[str, pa.Table]:
    """Cut a table into one table per day of its partition column. Rows arrive ordered by the
    partition column (the extract asks for it), so this is usually slices of the table as it is;
    otherwise one stable sort first."""
    if table.num_rows == 0:
        return {}
    days = day_numbers(table.column(partition_column), timezone)
    if days.size > 1 and np.any(days[1:] < days[:-1]):
        order = np.argsort(days, kind="stable")
        table, days = table.take(pa.array(order)), days[order]
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    ends = np.r_[starts[1:], days.size]
    epoch = dt.date(1970, 1, 1)
    return {(epoch + dt.timedelta(days=int(days[a]))).isoformat(): table.slice(a, b - a) for a, b in zip(starts, ends)}


def extract_days(
    warehouse: Warehouse, source: SourceSpec, first: dt.date, last: dt.date, column_is_timestamp: bool = False
) -> Iterator[tuple[dt.date, pa.Table]]:
    """Yield ``(day, rows)`` for every day first..last, an empty table for a day with no rows."""
    for chunk_first, chunk_last in day_chunks(first, last, source.extract_chunk_days):
        lower, upper = _bounds(source, chunk_first, chunk_last, column_is_timestamp)
        table = warehouse.read_between(source.table, source.partition_column, lower, upper)
        by_day = split_by_day(table, source.partition_column, source.timezone)
        day = chunk_first
        while day <= chunk_last:
            yield day, by_day.pop(day.isoformat(), table.schema.empty_table())
            day += dt.timedelta(days=1)
