"""What a DWH date or timestamp means, defined once for extraction, the day split and cleansing.

- A **date** is a day.
- A **timestamp with a time zone** (TIMESTAMPTZ, Arrow ``timestamp[tz=...]``) is an instant.
- A **timestamp without a time zone** (TIMESTAMP, Arrow ``timestamp[tz=None]``, or text without an
  offset) is a wall-clock time in the source's timezone (``source.naive_timestamps: local``, the
  default), or a UTC wall-clock time (``naive_timestamps: utc``).

A row's day is the calendar day of its value in the source's timezone. The extraction's bounds are
built in the same meaning as the day split (local midnights as wall-clock values for a naive local
column, as instants otherwise), so every DWH row falls in exactly one day whatever the chunk size.

A naive local time that does not exist (in the spring-forward gap) or exists twice (in the
fall-back hour) is read with the UTC offset in force *before* the transition (PEP 495's
``fold=0``): 02:53 in a 02:00-03:00 gap becomes 03:53 after it, 01:30 of a repeated hour is its
first occurrence. Such values are kept and counted (``dst_gap``, ``dst_ambiguous``), never dropped.

Dates and timestamps outside years 1..9999 are not representable by Python or pandas and are
refused by the contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NaiveRule = str  # "local" | "utc"
EPOCH = dt.date(1970, 1, 1)
FIRST_DAY, LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 31)
INSTANT = pa.timestamp("us", tz="UTC")


class DayKind(str, Enum):
    """How a partition column's values map to days (decided by its DWH type and the spec)."""

    DATE = "date"
    NAIVE_LOCAL = "naive_local"   # wall-clock time in the source's timezone
    NAIVE_UTC = "naive_utc"       # wall-clock time in UTC
    AWARE = "aware"               # an instant


class NotTemporal(TypeError):
    """A partition column whose DWH type is neither a date nor a timestamp."""


def day_kind(arrow_type: pa.DataType, naive_rule: NaiveRule = "local") -> DayKind:
    if pa.types.is_date(arrow_type):
        return DayKind.DATE
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is not None:
            return DayKind.AWARE
        return DayKind.NAIVE_UTC if naive_rule == "utc" else DayKind.NAIVE_LOCAL
    raise NotTemporal(f"type {arrow_type} is neither a date nor a timestamp")


def local_midnight(day: dt.date, timezone: str) -> dt.datetime:
    """The first instant of ``day`` in ``timezone`` (fold=0: a midnight in a gap is the transition)."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))


def day_bounds(kind: DayKind, timezone: str, first: dt.date, last: dt.date) -> tuple[object, object]:
    """``[lower, upper)`` of the days ``first..last`` as values the DWH compares with the column."""
    upper = last + dt.timedelta(days=1)
    if kind is DayKind.DATE:
        return first, upper
    if kind is DayKind.NAIVE_LOCAL:
        return dt.datetime.combine(first, dt.time()), dt.datetime.combine(upper, dt.time())
    lo, hi = local_midnight(first, timezone), local_midnight(upper, timezone)
    if kind is DayKind.NAIVE_UTC:
        return (lo.astimezone(dt.UTC).replace(tzinfo=None), hi.astimezone(dt.UTC).replace(tzinfo=None))
    return lo, hi


def _combined(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def day_numbers(column: pa.Array | pa.ChunkedArray, kind: DayKind, timezone: str) -> np.ndarray:
    """Days since 1970-01-01 (int32) of each value, in the source's timezone (nulls: -2**31)."""
    column = _combined(column)
    if kind is DayKind.NAIVE_UTC:
        column = pc.assume_timezone(column, "UTC")
    if kind in (DayKind.NAIVE_UTC, DayKind.AWARE):
        column = pc.local_timestamp(column.cast(pa.timestamp(column.type.unit, tz=timezone)))
    days = column.cast(pa.date32()).cast(pa.int32())
    return pc.fill_null(days, np.iinfo(np.int32).min).to_numpy(zero_copy_only=False)


def day_of_number(number: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(number))


@dataclass
class Localized:
    """Instants of wall-clock values, with the values that fell in a DST gap or a repeated hour."""

    instants: pa.Array          # timestamp[us, UTC]
    gap: np.ndarray             # bool: the wall-clock time did not exist (shifted forward)
    ambiguous: np.ndarray       # bool: it existed twice (the first occurrence taken)


def localize(naive: pa.Array, timezone: str) -> Localized:
    """Wall-clock times in ``timezone`` to instants, by the offset in force before a transition."""
    naive = _combined(naive).cast(pa.timestamp("us"))
    n = len(naive)
    if timezone in ("UTC", "Etc/UTC"):
        return Localized(pc.assume_timezone(naive, "UTC"), np.zeros(n, bool), np.zeros(n, bool))
    first = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
    after = pc.assume_timezone(naive, timezone, ambiguous="latest", nonexistent="latest")
    differ = pc.fill_null(pc.not_equal(first, after), False).to_numpy(zero_copy_only=False)
    # In a gap, "earliest" is the last microsecond before it; its local wall clock gives the old offset.
    before_gap = pc.local_timestamp(first)
    in_gap = differ & pc.fill_null(pc.not_equal(before_gap, naive), False).to_numpy(zero_copy_only=False)
    instants = first.cast(INSTANT)
    if in_gap.any():
        as_utc = pc.assume_timezone(naive, "UTC").cast(pa.int64()).to_numpy(zero_copy_only=False)
        old_offset = (before_gap.cast(pa.int64()).to_numpy(zero_copy_only=False)
                      - first.cast(pa.int64()).to_numpy(zero_copy_only=False))
        fixed = np.where(in_gap, as_utc - old_offset, instants.cast(pa.int64()).to_numpy(zero_copy_only=False))
        instants = pa.array(fixed, pa.int64(), mask=pc.is_null(naive).to_numpy(zero_copy_only=False)).cast(INSTANT)
    return Localized(instants, in_gap, differ & ~in_gap)


def to_instants(values: pa.Array, naive_rule: NaiveRule, timezone: str) -> Localized:
    """Any timestamp array to instants: aware values as they are, naive ones by ``naive_rule``."""
    values = _combined(values)
    if values.type.tz is not None:
        n = len(values)
        return Localized(values.cast(INSTANT), np.zeros(n, bool), np.zeros(n, bool))
    return localize(values, "UTC" if naive_rule == "utc" else timezone)


def representable(days: pa.Array) -> pa.Array:
    """Whether each date32 value lies in years 1..9999 (null stays null)."""
    number = _combined(days).cast(pa.int32())
    low, high = (FIRST_DAY - EPOCH).days, (LAST_DAY - EPOCH).days
    return pc.and_(pc.greater_equal(number, low), pc.less_equal(number, high))
