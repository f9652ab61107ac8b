"""Apply a spec's column contract to one day of raw rows.

Every raw row ends in exactly one of two tables: ``clean`` (typed, repaired, meeting every rule) or
``quarantine`` (the raw values as text, the row's position in the extract, and every reason as
``column:rule``). Rules: missing_column, not_a_number / bad_date / bad_timestamp / wrong_type,
null, out_of_range, bad_clock_time, unknown_category, and ``row:duplicate`` for the second and
later copies of an identical raw row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.cleansing.parse import ARROW_TYPES, UNPARSEABLE, parse_column
from batch_training.spec.model import ColumnContract, TrainingSpec

ROW_NUMBER = "_row_number"
REASONS = "_reasons"


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


def clean_schema(spec: TrainingSpec) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[c.type], nullable=c.nullable) for name, c in spec.columns.items()])


def quarantine_schema(raw_columns: list[str]) -> pa.Schema:
    return pa.schema([pa.field(c, pa.string()) for c in raw_columns]
                     + [pa.field(ROW_NUMBER, pa.int64()), pa.field(REASONS, pa.string())])


def _rule_masks(values: pa.Array, contract: ColumnContract) -> list[tuple[str, pa.Array]]:
    masks: list[tuple[str, pa.Array]] = []
    if not contract.nullable:
        masks.append(("null", pc.is_null(values)))
    if contract.min is not None or contract.max is not None:
        low = pc.less(values, contract.min) if contract.min is not None else None
        high = pc.greater(values, contract.max) if contract.max is not None else None
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
    n = raw.num_rows
    keyed = raw.append_column("__i", pa.array(np.arange(n, dtype=np.int64)))
    first = keyed.group_by(raw.column_names, use_threads=False).aggregate([("__i", "min")])["__i_min"]
    mask = np.ones(n, dtype=bool)
    mask[first.to_numpy()] = False
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


def cleanse(raw: pa.Table, spec: TrainingSpec) -> CleansingResult:
    """Split one day of raw rows into clean typed rows and quarantined rows with reasons."""
    n = raw.num_rows
    violations: list[tuple[str, np.ndarray]] = []
    repairs: list[tuple[str, np.ndarray]] = []
    typed: dict[str, pa.Array] = {}
    for name, contract in spec.columns.items():
        if name not in raw.column_names:
            violations.append((f"{name}:missing_column", np.ones(n, dtype=bool)))
            typed[name] = pa.nulls(n, ARROW_TYPES[contract.type])
            continue
        parsed = parse_column(raw.column(name), contract)
        typed[name] = parsed.values
        violations.append((f"{name}:{UNPARSEABLE[contract.type]}", parsed.unparseable.to_numpy(zero_copy_only=False)))
        for rule, mask in _rule_masks(parsed.values, contract):
            # A value that could not be parsed is already explained; don't also call it null.
            arr = mask.to_numpy(zero_copy_only=False)
            if rule == "null":
                arr = arr & ~violations[-1][1] if violations[-1][0].startswith(f"{name}:") else arr
            violations.append((f"{name}:{rule}", arr))
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
    columns = {name: picked.column(name).cast(pa.string()) for name in raw.column_names}
    columns[ROW_NUMBER] = pa.array(rows, pa.int64())
    columns[REASONS] = pa.array([";".join(r) for r in reasons_per_row], pa.string())
    return pa.table(columns, schema=quarantine_schema(raw.column_names)), dict(sorted(counts.items()))
