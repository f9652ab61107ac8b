"""Extract days from the DWH: a span of days is read in chunks of whole days, one query per chunk,
and cut into one Arrow table per day. Memory is bounded by a chunk, never by the table.

The meaning of the partition column's values (``batch_training.timestamps``) is decided once from
its DWH type and the spec, and both the query's bounds and the day split use it, so every row of the
DWH falls in exactly one day. A span is read as one query, streamed in record batches ordered by the
partition column and cut into chunks as they arrive (memory: a chunk and a batch), and counted first,
in the same snapshot of the DWH, by one statement that returns the ``count(*)`` of every chunk's
bounds split by the day the DWH gives each row: each chunk's count must equal the rows extracted for
it (the conservation check); when it does not, the DWH's per-day counts say which days differ. Two
statements for the span instead of two per chunk (``bench/README.md``, extraction, has the figures).
The snapshot lasts as long as the span's read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from batch_training.spec.identifiers import check_identifier, check_table_name, quote_identifier
from batch_training.spec.tables import SourceSpec
from batch_training.timestamps import EPOCH, DayKind, NotTemporal, day_bounds, day_kind, day_numbers, day_of_number
from batch_training.warehouse.base import Warehouse, WarehouseConfigError, WarehouseQueryError


def day_chunks(first: dt.date, last: dt.date, chunk_days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive (first, last) spans, inclusive, of at most ``chunk_days`` days."""
    start = first
    while start <= last:
        end = min(last, start + dt.timedelta(days=chunk_days - 1))
        yield start, end
        start = end + dt.timedelta(days=1)


def split_by_day(table: pa.Table, partition_column: str, timezone: str, kind: DayKind | None = None) -> dict[str, pa.Table]:
    """Cut a table into one table per day of its partition column. Rows arrive ordered by the
    partition column (the extract asks for it), so this is usually slices of the table as it is;
    otherwise one stable sort first. Rows without a partition value are not a day's (the extract's
    bounds never return them)."""
    if table.num_rows == 0:
        return {}
    column = table.column(partition_column)
    return _split(table, day_numbers(column, kind or day_kind(column.type), timezone))


def _split(table: pa.Table, days: np.ndarray) -> dict[str, pa.Table]:
    """``split_by_day`` with each row's day number already known."""
    if table.num_rows == 0:
        return {}
    if days.size > 1 and np.any(days[1:] < days[:-1]):
        order = np.argsort(days, kind="stable")
        table, days = table.take(pa.array(order)), days[order]
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    ends = np.r_[starts[1:], days.size]
    missing = np.iinfo(np.int32).min
    return {day_of_number(days[a]).isoformat(): table.slice(a, b - a) for a, b in zip(starts, ends) if days[a] != missing}


@dataclass
class Chunk:
    """The days of one chunk, each with its rows (an empty table for a day without rows)."""

    first: dt.date
    last: dt.date
    days: dict[dt.date, pa.Table]
    dwh_rows: int                                   # the DWH's count(*) of the chunk's bounds
    dwh_by_day: dict[str, int] = field(default_factory=dict)  # the DWH's per-day counts, when they disagree

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.days.values())

    @property
    def conserved(self) -> bool:
        return self.rows == self.dwh_rows

    def dwh_rows_of(self, day: dt.date) -> int:
        """The DWH's count for one day (its share of the total when the totals agree)."""
        return self.dwh_by_day.get(day.isoformat(), 0) if self.dwh_by_day else self.days[day].num_rows


def partition_kind(warehouse: Warehouse, source: SourceSpec) -> DayKind:
    """How the partition column's DWH type maps to days (a query that returns no rows)."""
    schema = warehouse.schema_of(source.table)
    if source.partition_column not in schema.names:
        raise WarehouseConfigError(f"table {source.table} has no partition column {source.partition_column!r} "
                                   f"(it has {', '.join(schema.names)})")
    try:
        return day_kind(schema.field(source.partition_column).type, source.naive_timestamps)
    except NotTemporal as exc:
        raise WarehouseConfigError(f"partition column {source.table}.{source.partition_column}: {exc}; "
                                   "it must be a DATE or TIMESTAMP in the DWH") from None


def _cut(batches: Iterator[pa.RecordBatch], spans: list[tuple[dt.date, dt.date]], column: str, kind: DayKind,
         timezone: str, schema: pa.Schema) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """The rows of each span and their day numbers, in order, from batches ordered by ``column``
    (an empty table for a span without rows). Rows out of order are refused, never misplaced."""
    ends = np.array([(last - EPOCH).days for _, last in spans], dtype=np.int64)
    at, floor = 0, (spans[0][0] - EPOCH).days
    pending: list[tuple[pa.RecordBatch, np.ndarray]] = []

    def done() -> tuple[pa.Table, np.ndarray]:
        table = pa.Table.from_batches([b for b, _ in pending], schema=schema)
        return table, np.concatenate([d for _, d in pending]) if pending else np.empty(0, np.int64)

    for batch in batches:
        if batch.num_rows == 0:
            continue
        days = day_numbers(batch.column(column), kind, timezone).astype(np.int64)
        if days[0] < floor or (days.size > 1 and np.any(days[1:] < days[:-1])):
            raise WarehouseQueryError(f"the DWH returned rows of {column} out of order (the read asks for ORDER BY "
                                      f"{column}); a chunk cannot be cut from them")
        floor = int(days[-1])
        start = 0
        while at < len(spans) and days[-1] > ends[at]:  # this batch finishes the span `at`
            cut = int(np.searchsorted(days, ends[at], side="right"))
            pending.append((batch.slice(start, cut - start), days[start:cut]))
            yield done()
            pending, start, at = [], cut, at + 1
        if at == len(spans):
            raise WarehouseQueryError(f"the DWH returned rows of {column} after the last day asked for")
        pending.append((batch.slice(start), days[start:]))
    while at < len(spans):
        yield done()
        pending, at = [], at + 1


def extract_chunks(warehouse: Warehouse, source: SourceSpec, first: dt.date, last: dt.date,
                   kind: DayKind | None = None) -> Iterator[Chunk]:
    """Chunks of ``extract_chunk_days`` days covering first..last, read by one streamed query and
    counted in the same snapshot."""
    kind = kind or partition_kind(warehouse, source)
    table_name, column, timezone = source.table, source.partition_column, source.timezone
    spans = list(day_chunks(first, last, source.extract_chunk_days))
    bounds = [day_bounds(kind, timezone, a, b) for a, b in spans]
    with warehouse.snapshot():
        counted = warehouse.count_chunks(table_name, column, bounds, kind, timezone)
        with warehouse.stream_between(table_name, column, bounds[0][0], bounds[-1][1]) as reader:
            cut = _cut(reader, spans, column, kind, timezone, reader.schema)
            for (chunk_first, chunk_last), by_dwh, (table, numbers) in zip(spans, counted, cut, strict=True):
                by_day = _split(table, numbers)
                days, day = {}, chunk_first
                while day <= chunk_last:
                    days[day] = by_day.pop(day.isoformat(), table.schema.empty_table())
                    day += dt.timedelta(days=1)
                dwh_rows = sum(by_dwh.values())
                yield Chunk(chunk_first, chunk_last, days, dwh_rows, {} if dwh_rows == table.num_rows else by_dwh)


def extract_days(warehouse: Warehouse, source: SourceSpec, first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, pa.Table]]:
    """Yield ``(day, rows)`` for every day first..last, an empty table for a day with no rows."""
    for chunk in extract_chunks(warehouse, source, first, last):
        yield from chunk.days.items()


def newest_day(warehouse: Warehouse, source: SourceSpec) -> dt.date | None:
    """The latest day the DWH table holds (its partition column's maximum, as a local day)."""
    column = quote_identifier(check_identifier(source.partition_column, "partition column"))
    newest = warehouse.query(f"SELECT max({column}) AS newest FROM {quote_identifier(check_table_name(source.table))}",
                             doing=f"reading the newest day of {source.table}").column("newest")
    if newest.null_count == len(newest):
        return None
    return day_of_number(day_numbers(newest, day_kind(newest.type, source.naive_timestamps), source.timezone)[0])
