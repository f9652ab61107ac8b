"""Apply a spec's column contract to one day of raw rows.

Every raw row ends in exactly one of two tables: ``clean`` (typed, repaired, meeting every rule) or
``quarantine`` (the row's position in the extract, every reason as ``column:rule``, and the raw
values as text in a struct of their own, ``raw``: the user's columns are never mixed with ours, so no
column name of any DWH can collide with the quarantine's own). Rules: missing_column, not_a_number / bad_date / bad_timestamp / wrong_type,
null, out_of_range, bad_clock_time, unknown_category, and ``row:duplicate`` for the second and
later copies of an identical raw row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from batch_training.cleansing.duplicates import duplicate_mask
from batch_training.cleansing.parse import ARROW_TYPES, TimeRule
from batch_training.cleansing.rules import ColumnVerdict, ValueMemo, judge_column
from batch_training.spec.tables import TableSpec

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


@dataclass
class _Verdicts:
    """The contract's judgement of every row of a table: typed columns, rule violations, repairs."""

    typed: dict[str, ColumnVerdict | pa.Array]  # a missing column: its nulls
    violations: list[tuple[str, np.ndarray]]
    repairs: list[tuple[str, np.ndarray]]
    bad: np.ndarray


def _judge(raw: pa.Table, spec: TableSpec, day_ids: np.ndarray | None, memo: ValueMemo | None) -> _Verdicts:
    n = raw.num_rows
    violations: list[tuple[str, np.ndarray]] = []
    repairs: list[tuple[str, np.ndarray]] = []
    typed: dict[str, ColumnVerdict | pa.Array] = {}  # a missing column: its nulls
    rule = TimeRule(spec.source.timezone, spec.source.naive_timestamps)
    for name, contract in spec.columns.items():
        if name not in raw.column_names:
            violations.append((f"{name}:missing_column", np.ones(n, dtype=bool)))
            typed[name] = pa.nulls(n, ARROW_TYPES[contract.type])
            continue
        verdict = judge_column(raw.column(name), name, contract, rule, memo)
        typed[name] = verdict
        violations += verdict.violations
        repairs += verdict.repairs
    # duplicates are within a day: rows of two days are never copies of each other
    keyed = raw if day_ids is None else raw.append_column("day", pa.array(day_ids))
    violations.append(("row:duplicate", duplicate_mask(keyed)))
    bad = np.zeros(n, dtype=bool)
    for _, mask in violations:
        bad |= mask
    return _Verdicts(typed, [(c, m) for c, m in violations if m.any()], repairs, bad)


def cleanse(raw: pa.Table, spec: TableSpec) -> CleansingResult:
    """Split one day of raw rows into clean typed rows and quarantined rows with reasons."""
    return split_results(raw, spec, [raw.num_rows])[0]


def split_results(raw: pa.Table, spec: TableSpec, day_rows: list[int], memo: ValueMemo | None = None) -> list[CleansingResult]:
    """The contract over ``raw``, the rows of several days one after the other (``day_rows`` of each),
    judged in one pass and split back into each day's result: exactly what ``cleanse`` gives each day
    alone (row numbers, reasons and repairs counted within the day, duplicates only within a day).
    ``memo`` carries the verdicts on text values from one call to the next."""
    n = raw.num_rows
    if sum(day_rows) != n:
        raise ValueError(f"the days hold {sum(day_rows)} rows, the table {n}")
    starts = np.concatenate([[0], np.cumsum(day_rows)]).astype(np.int64)
    day_ids = None if len(day_rows) == 1 else np.repeat(np.arange(len(day_rows), dtype=np.int32), day_rows)
    v = _judge(raw, spec, day_ids, memo)
    good = ~v.bad
    kept = np.flatnonzero(good)
    clean = pa.table([t.pick(kept) if isinstance(t, ColumnVerdict) else t.take(pa.array(kept)) for t in v.typed.values()],
                     schema=clean_schema(spec))
    clean_starts = np.concatenate([[0], np.cumsum(good)])[starts]  # each day's first clean row
    repaired = np.zeros(n, dtype=bool)
    repair_hits = []
    for code, mask in v.repairs:
        hits = mask & good
        repaired |= hits
        if hits.any():
            repair_hits.append((code, hits))
    days = len(day_rows)
    repaired_per_day = _per_day(repaired, day_ids, days)
    repair_counts = {code: _per_day(hits, day_ids, days) for code, hits in repair_hits}
    reason_counts = {code: _per_day(mask, day_ids, days) for code, mask in v.violations}
    quarantine = _quarantine(raw, v.bad, v.violations, starts if day_ids is not None else None, day_ids)
    bad_starts = np.concatenate([[0], np.cumsum(v.bad)])[starts]  # each day's first quarantined row
    out = []
    for i in range(len(day_rows)):
        lo, hi = starts[i], starts[i + 1]
        out.append(CleansingResult(
            clean.slice(clean_starts[i], clean_starts[i + 1] - clean_starts[i]),
            quarantine.slice(bad_starts[i], bad_starts[i + 1] - bad_starts[i]), int(hi - lo),
            int(repaired_per_day[i]), _of_day(repair_counts, i), _of_day(reason_counts, i)))
    return out


def _per_day(mask: np.ndarray, day_ids: np.ndarray | None, days: int) -> np.ndarray:
    """How many rows of each day ``mask`` marks."""
    if day_ids is None:
        return np.array([np.count_nonzero(mask)])
    return np.bincount(day_ids[mask], minlength=days)


def _of_day(counts: dict[str, np.ndarray], i: int) -> dict[str, int]:
    """code -> that day's count, by code, codes that mark no row of the day left out."""
    return {code: int(k[i]) for code, k in sorted(counts.items()) if k[i]}


def _quarantine(raw: pa.Table, bad: np.ndarray, violations: list[tuple[str, np.ndarray]],
                starts: np.ndarray | None = None, day_ids: np.ndarray | None = None) -> pa.Table:
    """The bad rows: each one's row number within its day's extract, its reasons, its raw values."""
    rows = np.flatnonzero(bad)
    reasons_per_row: list[list[str]] = [[] for _ in rows]
    for code, mask in violations:
        hits = mask[rows]
        for j in np.flatnonzero(hits):
            reasons_per_row[j].append(code)
    picked = raw.take(pa.array(rows, pa.int64()))
    schema = quarantine_schema(raw.column_names)
    values = pa.StructArray.from_arrays([_as_text(c) for c in picked.columns], fields=list(schema.field(RAW).type))
    numbers = rows if day_ids is None else rows - starts[day_ids[rows]]
    return pa.table([pa.array(numbers, pa.int64()), pa.array([";".join(r) for r in reasons_per_row], pa.string()),
                     values], schema=schema)


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """A raw column as the DWH's text: strings as they are, other types cast (nested ones as JSON-ish text)."""
    array = column.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    try:
        return array.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
