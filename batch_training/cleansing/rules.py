"""One raw column judged by its contract: the typed values, the rules each row breaks and the
repairs made. A column that repeats few values (text-stored numbers, clock times, codes: most DWH
text) is judged once per distinct value and the verdicts are taken back to the rows, so the regexes,
casts and range rules run on a few hundred values, not on every row."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.cleansing.parse import UNPARSEABLE, TimeRule, parse_column
from batch_training.spec.tables import ColumnContract

#: below this many rows, judging every value is as cheap as finding the distinct ones
DISTINCT_MIN_ROWS = 256


@dataclass
class ColumnVerdict:
    """Typed values are either ``values`` or, for a column judged by its distinct values, each row's
    ``rows`` position among the typed ``entries`` (taken only for the rows kept, see ``pick``)."""

    values: pa.Array | None                   # the contract's type; null where unreadable or missing
    violations: list[tuple[str, np.ndarray]]  # "column:rule" -> rows breaking it (only rules some row breaks)
    repairs: list[tuple[str, np.ndarray]]     # "column:repair" -> rows repaired so
    entries: pa.Array | None = None
    rows: np.ndarray | None = None

    def pick(self, kept: np.ndarray) -> pa.Array:
        """The typed values of the rows ``kept`` (indices), in that order."""
        if self.values is not None:
            return self.values.take(pa.array(kept))
        return self.entries.take(pa.array(self.rows[kept]))


def _bounds(contract: ColumnContract) -> tuple[int | float, int | float]:
    """The range in the column's type: an integer column compares with integers (clamped to int64,
    so every value lies on the same side), since a float would round values beyond 2**53."""
    low = -math.inf if contract.min is None else contract.min
    high = math.inf if contract.max is None else contract.max
    if contract.type != "integer":
        return float(low), float(high)
    return (-(2**63) if low == -math.inf else _int64(math.ceil(low)),
            2**63 - 1 if high == math.inf else _int64(math.floor(high)))


def _int64(value: int) -> int:
    return max(-(2**63), min(2**63 - 1, value))


def _rule_masks(values: pa.Array, contract: ColumnContract) -> list[tuple[str, np.ndarray]]:
    """The rules a typed column's present values break (a missing value breaks only ``null``),
    computed with NumPy on the column's numbers: exact for int64."""
    null = values.is_null().to_numpy(zero_copy_only=False) if values.null_count else None
    masks: list[tuple[str, np.ndarray]] = []
    if not contract.nullable and null is not None:
        masks.append(("null", null))
    if contract.min is not None or contract.max is not None or contract.clock:
        filled = pc.fill_null(values, 0) if null is not None else values
        v = filled.to_numpy(zero_copy_only=False)
        if contract.min is not None or contract.max is not None:
            low, high = _bounds(contract)
            masks.append(("out_of_range", (v < low) | (v > high)))
        if contract.clock:
            minutes = np.fmod(v, 100) if contract.type == "integer" else np.mod(v, 100)
            masks.append(("bad_clock_time", (v < 0) | (v > 2400) | (minutes >= 60)))
        if null is not None:
            masks = [(rule, m if rule == "null" else m & ~null) for rule, m in masks]
    if contract.allowed is not None:
        unknown = ~pc.is_in(values, value_set=pa.array(contract.allowed, pa.string())).to_numpy(zero_copy_only=False)
        masks.append(("unknown_category", unknown if null is None else unknown & ~null))  # missing is not unknown
    return masks


def _judge_values(raw: pa.Array, name: str, contract: ColumnContract, rule: TimeRule) -> ColumnVerdict:
    n = len(raw)
    parsed = parse_column(raw, contract, rule)
    unparseable = np.zeros(n, dtype=bool) if parsed.unparseable is None else \
        parsed.unparseable.to_numpy(zero_copy_only=False)
    overflow = np.zeros(n, dtype=bool) if parsed.overflow is None else \
        pc.fill_null(parsed.overflow, False).to_numpy(zero_copy_only=False)
    violations = [(f"{name}:{UNPARSEABLE[contract.type]}", unparseable)]
    for code, arr in _rule_masks(parsed.values, contract):
        if code == "null":  # a value that could not be read is already explained; not also null
            arr = arr & ~unparseable & ~overflow
        if code == "out_of_range":
            arr = arr | overflow
            overflow = np.zeros(n, dtype=bool)
        violations.append((f"{name}:{code}", arr))
    if overflow.any():  # beyond int64 with no range declared: still out of range
        violations.append((f"{name}:out_of_range", overflow))
    repairs = [(f"{name}:{k}", m.to_numpy(zero_copy_only=False)) for k, m in parsed.repairs.items()]
    return ColumnVerdict(parsed.values, [(c, m) for c, m in violations if m.any()],
                         [(c, m) for c, m in repairs if m.any()])


class ValueMemo:
    """The verdicts on the distinct text values seen so far, per column, across the chunks of one
    cleansing run: a chunk judges only the values no earlier chunk had (delays, clock times and codes
    repeat from month to month). At most ``limit`` values a column are kept."""

    def __init__(self, limit: int = 1_000_000):
        self.limit = limit
        self._known: dict[str, tuple[pa.Array, ColumnVerdict]] = {}

    def positions(self, name: str, entries: pa.Array, judge) -> tuple[np.ndarray, ColumnVerdict]:
        """Each entry's position in the column's memo, and the memo's verdicts (``judge(values)``
        judges values it has not seen)."""
        known, verdict = self._known.get(name, (None, None))
        if known is not None and len(known) + len(entries) > self.limit:
            known = verdict = None
        found = None if known is None else pc.index_in(entries, value_set=known, skip_nulls=False)
        if found is None or found.null_count:
            new = entries if found is None else entries.filter(pc.is_null(found))
            fresh = judge(new)
            if known is None:
                known, verdict = new, fresh
            else:
                known, verdict = pa.concat_arrays([known, new]), _concat(verdict, fresh, len(known), len(new))
            self._known[name] = (known, verdict)
            found = pc.index_in(entries, value_set=known, skip_nulls=False)
        assert verdict is not None  # judged above when nothing was known
        return found.to_numpy(zero_copy_only=False).astype(np.intp), verdict


def _concat(old: ColumnVerdict, new: ColumnVerdict, n_old: int, n_new: int) -> ColumnVerdict:
    def merge(a: list[tuple[str, np.ndarray]], b: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        codes = list(dict.fromkeys([c for c, _ in a] + [c for c, _ in b]))
        da, db = dict(a), dict(b)
        return [(c, np.concatenate([da.get(c, np.zeros(n_old, bool)), db.get(c, np.zeros(n_new, bool))])) for c in codes]

    return ColumnVerdict(pa.concat_arrays([old.values, new.values]), merge(old.violations, new.violations),
                         merge(old.repairs, new.repairs))


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _distinct(raw: pa.Array) -> tuple[pa.Array, np.ndarray] | None:
    """The column's distinct values plus a last null entry, and each row's position among them; None
    when the column is not text or repeats too little for it to pay."""
    if pa.types.is_dictionary(raw.type):
        encoded = raw
    elif _is_text(raw.type) and len(raw) >= DISTINCT_MIN_ROWS:
        encoded = pc.dictionary_encode(raw)
        if len(encoded.dictionary) * 2 > len(raw):
            return None
    else:
        return None
    dictionary = encoded.dictionary
    entries = pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])
    indices = encoded.indices
    if indices.null_count:  # a missing value is the last entry's
        indices = pc.fill_null(indices, pa.scalar(len(dictionary), indices.type))
    return entries, indices.to_numpy(zero_copy_only=False).astype(np.intp)


def judge_column(raw: pa.Array | pa.ChunkedArray, name: str, contract: ColumnContract, rule: TimeRule,
                 memo: ValueMemo | None = None) -> ColumnVerdict:
    """The verdict on every row of ``raw`` (the column ``name`` of a raw table)."""
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if isinstance(raw.type, pa.BaseExtensionType):
        raw = raw.storage
    if pa.types.is_dictionary(raw.type) and not _is_text(raw.type.value_type):
        raw = raw.cast(raw.type.value_type)  # a dictionary of numbers: judged as numbers
    distinct = _distinct(raw)
    if distinct is None:
        return _judge_values(raw, name, contract, rule)
    entries, positions = distinct
    judge = lambda values: _judge_values(values, name, contract, rule)  # noqa: E731
    if memo is None:
        at, per_value = np.arange(len(entries)), judge(entries)
    else:
        at, per_value = memo.positions(name, entries, judge)
    rows = at[positions]
    return ColumnVerdict(None, [(c, m[rows]) for c, m in per_value.violations],
                         [(c, m[rows]) for c, m in per_value.repairs], per_value.values, rows)
