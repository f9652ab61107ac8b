"""Extract days from the DWH: a span of days is read in chunks of whole days, one query per chunk,
and cut into one Arrow table per day. Memory is bounded by a chunk, never by the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

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


def day_keys(column: pa.ChunkedArray, timezone: str) -> pa.ChunkedArray:
    """The ISO day (``YYYY-MM-DD``) of each value of a date or timestamp column."""
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:  # naive timestamps are taken as local time of the spec's timezone
            column = pc.assume_timezone(column, timezone)
        column = column.cast(pa.timestamp(column.type.unit, tz=timezone))
        return pc.strftime(column, format="%Y-%m-%d")
    return column.cast(pa.date32()).cast(pa.string())


def split_by_day(table: pa.Table, partition_column: str, timezone: str) -> dict[str, pa.Table]:
    """Cut a table into one table per day of its partition column: one stable sort, then slices."""
    if table.num_rows == 0:
        return {}
    keys = day_keys(table.column(partition_column), timezone)
    order = pc.sort_indices(keys)
    table, keys = table.take(order), keys.take(order)
    out: dict[str, pa.Table] = {}
    offset = 0
    for item in pc.value_counts(keys).to_pylist():  # in order of first appearance, i.e. sorted
        day, count = item["values"], item["counts"]
        if day is not None:  # a null partition value cannot come back from a range query
            out[day] = table.slice(offset, count)
        offset += count
    return out


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
