"""Apply a spec's column contract to one day of raw rows.

Every raw row ends in exactly one of two tables: ``clean`` (typed, repaired, meeting every rule) or
``quarantine`` (the row's position in the extract, every reason as ``column:rule``, and the raw
values as text in a struct of their own, ``raw``: the user's columns are never mixed with ours, so no
column name of any DWH can collide with the quarantine's own). Rules: missing_column, not_a_number / bad_date / bad_timestamp / wrong_type,
null, out_of_range, bad_clock_time, unknown_category, and ``row:duplicate`` for the second and
later copies of an identical raw row.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.cleansing.parse import ARROW_TYPES, UNPARSEABLE, TimeRule, parse_column
from batch_training.spec.model import ColumnContract, TableSpec

ROW_NUMBER = "row_number"
REASONS = "reasons"
RAW = "raw"


@dataclass
class CleansingResult:
    clean: pa.Table
    quarantine: pa.Table
    rows_raw: int
    rows_repaired: int
    repairs: dict[str, int] = field(default_factory=dict)   # "column:repair" -> clean rows repaired so
    reasons: dict[str, int] = field(default_factory=dict)   # "column:rule" -> quarantined rows with it

    @property
    def rows_clean(self) -> int:
        return self.clean.num_rows

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.num_rows

    @property
    def duplicates(self) -> int:
        return self.reasons.get("row:duplicate", 0)


def clean_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[c.type], nullable=c.nullable) for name, c in spec.columns.items()])


def quarantine_schema(raw_columns: list[str]) -> pa.Schema:
    return pa.schema([pa.field(ROW_NUMBER, pa.int64()), pa.field(REASONS, pa.string()),
                      pa.field(RAW, pa.struct([pa.field(c, pa.string()) for c in raw_columns]))])


def _bounds(contract: ColumnContract) -> tuple[pa.Scalar | None, pa.Scalar | None]:
    """The range as scalars of the column's type: an integer column compares with integers, since a
    comparison with a float would round values beyond 2**53 (or refuse them)."""
    low, high = contract.min, contract.max
    if contract.type != "integer":
        return (None if low is None else pa.scalar(float(low)), None if high is None else pa.scalar(float(high)))
    return (None if low is None else pa.scalar(_int64(math.ceil(low)), pa.int64()),
            None if high is None else pa.scalar(_int64(math.floor(high)), pa.int64()))


def _int64(value: int) -> int:
    """A bound beyond int64 clamped to it (every int64 value then lies on the same side)."""
    return max(-(2**63), min(2**63 - 1, value))


def _rule_masks(values: pa.Array, contract: ColumnContract) -> list[tuple[str, pa.Array]]:
    masks: list[tuple[str, pa.Array]] = []
    if not contract.nullable:
        masks.append(("null", pc.is_null(values)))
    if contract.min is not None or contract.max is not None:
        low_bound, high_bound = _bounds(contract)
        low = pc.less(values, low_bound) if low_bound is not None else None
        high = pc.greater(values, high_bound) if high_bound is not None else None
        out = low if high is None else high if low is None else pc.or_(low, high)
        masks.append(("out_of_range", out))
    if contract.clock:
        minutes = pc.subtract(values, pc.multiply(pc.divide(values, 100), 100)) if contract.type == "integer" \
            else pc.subtract(values, pc.multiply(pc.floor(pc.divide(values, 100)), 100))
        bad = pc.or_(pc.or_(pc.less(values, 0), pc.greater(values, 2400)), pc.greater_equal(minutes, 60))
        masks.append(("bad_clock_time", bad))
    if contract.allowed is not None:
        known = pc.is_in(values, value_set=pa.array(contract.allowed, pa.string()))
        masks.append(("unknown_category", pc.and_(pc.is_valid(values), pc.invert(known))))
    return [(rule, pc.fill_null(mask, False)) for rule, mask in masks]


def _fingerprint(raw: pa.Table) -> np.ndarray:
    """A cheap 64-bit row fingerprint: numeric values and string lengths (equal rows, equal prints)."""
    mixed = np.zeros(raw.num_rows, dtype=np.uint64)
    for column in raw.columns:
        arr = column.combine_chunks()
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_binary(arr.type):
            arr = pc.binary_length(arr)
        elif pa.types.is_floating(arr.type):
            arr = pa.array(arr.fill_null(0).to_numpy(zero_copy_only=False).view(np.int64))
        elif pa.types.is_boolean(arr.type):
            arr = arr.cast(pa.int8())
        try:
            values = pc.fill_null(arr.cast(pa.int64()), -1).to_numpy(zero_copy_only=False).astype(np.uint64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # an exotic type: leave it to the exact comparison
        mixed = (mixed * np.uint64(0x100000001B3)) ^ values ^ (np.uint64(1) << np.uint64(63)) * pc.is_null(column).to_numpy(zero_copy_only=False).astype(np.uint64)
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
    _, inverse, counts = np.unique(prints, return_inverse=True, return_counts=True)
    candidates = np.flatnonzero(counts[inverse] > 1)
    if len(candidates):
        mask[candidates] = _exact_duplicates(raw.take(pa.array(candidates, pa.int64())))
    return mask


def cleanse(raw: pa.Table, spec: TableSpec) -> CleansingResult:
    """Split one day of raw rows into clean typed rows and quarantined rows with reasons."""
    n = raw.num_rows
    violations: list[tuple[str, np.ndarray]] = []
    repairs: list[tuple[str, np.ndarray]] = []
    typed: dict[str, pa.Array] = {}
    rule = TimeRule(spec.source.timezone, spec.source.naive_timestamps)
    for name, contract in spec.columns.items():
        if name not in raw.column_names:
            violations.append((f"{name}:missing_column", np.ones(n, dtype=bool)))
            typed[name] = pa.nulls(n, ARROW_TYPES[contract.type])
            continue
        parsed = parse_column(raw.column(name), contract, rule)
        typed[name] = parsed.values
        unparseable = parsed.unparseable.to_numpy(zero_copy_only=False)
        overflow = np.zeros(n, dtype=bool) if parsed.overflow is None else \
            pc.fill_null(parsed.overflow, False).to_numpy(zero_copy_only=False)
        violations.append((f"{name}:{UNPARSEABLE[contract.type]}", unparseable))
        for code, mask in _rule_masks(parsed.values, contract):
            arr = mask.to_numpy(zero_copy_only=False)
            if code == "null":  # a value that could not be read is already explained; not also null
                arr = arr & ~unparseable & ~overflow
            if code == "out_of_range":
                arr = arr | overflow
                overflow = np.zeros(n, dtype=bool)
            violations.append((f"{name}:{code}", arr))
        if overflow.any():  # beyond int64 with no range declared: still out of range
            violations.append((f"{name}:out_of_range", overflow))
        repairs += [(f"{name}:{k}", m.to_numpy(zero_copy_only=False)) for k, m in parsed.repairs.items()]
    violations.append(("row:duplicate", duplicate_mask(raw)))

    bad = np.zeros(n, dtype=bool)
    for _, mask in violations:
        bad |= mask
    good = ~bad
    clean = pa.table({name: col.filter(pa.array(good)) for name, col in typed.items()}, schema=clean_schema(spec))
    repaired_any = np.zeros(n, dtype=bool)
    repair_counts: dict[str, int] = {}
    for code, mask in repairs:
        hits = mask & good
        repaired_any |= hits
        if hits.any():
            repair_counts[code] = int(hits.sum())
    quarantine, reason_counts = _quarantine(raw, bad, violations)
    return CleansingResult(clean, quarantine, n, int(repaired_any.sum()), repair_counts, reason_counts)


def _quarantine(raw: pa.Table, bad: np.ndarray, violations: list[tuple[str, np.ndarray]]) -> tuple[pa.Table, dict[str, int]]:
    rows = np.flatnonzero(bad)
    reasons_per_row: list[list[str]] = [[] for _ in rows]
    counts: Counter[str] = Counter()
    for code, mask in violations:
        hits = mask[rows]
        if hits.any():
            counts[code] = int(hits.sum())
            for j in np.flatnonzero(hits):
                reasons_per_row[j].append(code)
    picked = raw.take(pa.array(rows, pa.int64()))
    schema = quarantine_schema(raw.column_names)
    values = pa.StructArray.from_arrays([_as_text(c) for c in picked.columns], fields=list(schema.field(RAW).type))
    table = pa.table([pa.array(rows, pa.int64()), pa.array([";".join(r) for r in reasons_per_row], pa.string()), values],
                     schema=schema)
    return table, dict(sorted(counts.items()))


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """A raw column as the DWH's text: strings as they are, other types cast (nested ones as JSON-ish text)."""
    array = column.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    try:
        return array.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
