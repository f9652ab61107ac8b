"""Request rows checked column by column against the data contract, the rules of ``schema.py``.

Why not the pydantic row model: a 1000-row batch spent ~2 ms building 1000 model instances, ~1 ms
dumping them back to dicts and ~0.5 ms turning those into arrays, and the garbage collector's
passes over all those objects made the tail several times the median. Here each feature's values
are pulled out of the rows once and checked as a whole: one ``set`` of the value types says whether
the column holds only what it may, then a few NumPy comparisons (numbers) or set differences
(categories) find the bad values. Only a column that has a bad value is walked value by value, to
say which. The checked columns go straight to the model (``Preprocessing.encode_columns``).

Every rule of ``schema.py`` holds, checked in pydantic's order so that a field gets the one error
pydantic would give it: numbers type -> finite -> ``min`` -> ``max`` -> whole -> clock; integer
codes type -> ``min`` -> ``max``; strings type, or membership in ``allowed``. ``null`` (or an absent
field) passes a nullable feature and fails another: "Field required" when absent, a type error when
``null``. Rows that are not objects, and unknown fields, are errors of their own. A test holds these
checks to the pydantic model's verdicts, value for value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable

import numpy as np

from .errors import FIELD_REQUIRED, NOT_AN_OBJECT, Errors, key, number
from .inputs import DATE_PATTERN, DATE_RULE, KINDS, TIMESTAMP_PATTERN, day_number, instants, request_inputs
from .schema import CLOCK_RULE, WHOLE_RULE

OK, MISSING, FLOAT_TYPE, FINITE, GE, LE, WHOLE, CLOCK, LITERAL, STRING_TYPE, INT_TYPE, PATTERN, REAL_DAY = range(13)
NONE = type(None)
NUMBERS, STRINGS, INTS = frozenset({int, float}), frozenset({str}), frozenset({int})  # bool is no number


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str                  # "number", "code" (integer category), "text", "choice" (from ``allowed``),
                               # "date" or "timestamp" (ISO text)
    nullable: bool
    lo: float | int | None = None
    hi: float | int | None = None
    whole: bool = False
    clock: bool = False
    allowed: tuple = ()        # in the contract's order, which pydantic's message keeps

    @classmethod
    def of(cls, name: str, contract: dict, categorical: bool, temporal: str | None = None) -> Feature:
        nullable, lo, hi = bool(contract.get("nullable", False)), contract.get("min"), contract.get("max")
        if temporal:
            return cls(name, temporal, nullable)
        integer = contract.get("type") == "integer"
        if not categorical:
            return cls(name, "number", nullable, _float(lo), _float(hi), integer, bool(contract.get("clock")))
        if contract.get("allowed"):
            return cls(name, "choice", nullable, allowed=tuple(contract["allowed"]))
        if integer:  # pydantic makes the bounds of an int field ints (and refuses 0.5)
            return cls(name, "code", nullable, None if lo is None else int(lo), None if hi is None else int(hi))
        return cls(name, "text", nullable)

    @property
    def type_error(self) -> int:
        """The code of a value of the wrong type, ``null`` included."""
        return {"number": FLOAT_TYPE, "code": INT_TYPE, "text": STRING_TYPE, "choice": LITERAL,
                "date": STRING_TYPE, "timestamp": STRING_TYPE}[self.kind]

    def error(self, code: int) -> tuple[str, str, dict | None]:
        """(type, msg, ctx) of an error, as pydantic words it for this field."""
        if code == GE:
            return "greater_than_equal", f"Input should be greater than or equal to {number(self.lo)}", {"ge": self.lo}
        if code == LE:
            return "less_than_equal", f"Input should be less than or equal to {number(self.hi)}", {"le": self.hi}
        if code == LITERAL:
            expected = _expected(self.allowed)
            return "literal_error", f"Input should be {expected}", {"expected": expected}
        if code == PATTERN:
            pattern = DATE_PATTERN if self.kind == "date" else TIMESTAMP_PATTERN
            return "string_pattern_mismatch", f"String should match pattern '{pattern}'", {"pattern": pattern}
        return _FIXED[code]


_FIXED = {
    MISSING: ("missing", FIELD_REQUIRED, None),
    FLOAT_TYPE: ("float_type", "Input should be a valid number", None),
    FINITE: ("finite_number", "Input should be a finite number", None),
    WHOLE: ("value_error", f"Value error, {WHOLE_RULE}", {"error": {}}),  # pydantic echoes the ValueError as {}
    CLOCK: ("value_error", f"Value error, {CLOCK_RULE}", {"error": {}}),
    STRING_TYPE: ("string_type", "Input should be a valid string", None),
    INT_TYPE: ("int_type", "Input should be a valid integer", None),
    REAL_DAY: ("value_error", f"Value error, {DATE_RULE}", {"error": {}}),
}


class Validator:
    """The contract's checks for the features of ``metadata.json``, in the row model's field order."""

    def __init__(self, metadata: dict):
        inputs, contract = request_inputs(metadata), metadata.get("contract", {})
        time = metadata.get("time") or {}
        self.timezone, self.naive = time.get("timezone", "UTC"), time.get("naive", "local")
        self.features = [Feature.of(name, contract.get(name, {"nullable": True}), kind == "categorical",
                                    {"dates": "date", "timestamps": "timestamp"}.get(kind))
                         for kind in KINDS for name in inputs[kind]]
        self.names = frozenset(f.name for f in self.features)
        self._getters = [itemgetter(f.name) for f in self.features]

    def _columns(self, rows: list[dict]) -> tuple[list[list], bool]:
        """Each feature's values (``None`` where absent), and whether no row has an unknown field.
        The common batch has every feature in every row: C-level lookups, no Python loop per value;
        a row that lacks one sends the whole batch down the per-field path."""
        try:
            columns = [list(map(get, rows)) for get in self._getters]
        except KeyError:
            return [[r.get(f.name) for r in rows] for f in self.features], all(map(self.names.issuperset, rows))
        return columns, set(map(len, rows)) <= {len(self.names)}  # every feature there: more keys are unknown

    def check(self, rows: list, errors: Errors, loc: Callable[[int], tuple]) -> dict[str, Any] | None:
        """The rows' columns (feature name -> float64 array for numbers, list of values for
        categories); or ``None``, with the rows' errors added to ``errors`` at ``loc(row index)``."""
        n = len(rows)
        not_object = None if set(map(type, rows)) <= {dict} else np.array([type(r) is not dict for r in rows])
        objects = rows if not_object is None else [r if type(r) is dict else {} for r in rows]
        values, known = self._columns(objects)
        extra = {} if known else \
            {i: [k for k in r if k not in self.names] for i, r in enumerate(objects) if not self.names.issuperset(r)}
        columns, codes = {}, {}
        for j, (f, col) in enumerate(zip(self.features, values)):
            columns[f.name], bad = _CHECKS[f.kind](f, col)
            if f.kind == "timestamp" and bad is None:
                columns[f.name] = instants(col, self.timezone, self.naive)
            if not f.nullable and NONE in set(map(type, col)):
                bad = _nulls(f, col, objects, bad)
            if bad is not None:
                codes[j] = bad
        if not_object is None and not extra and not codes:
            return columns
        self._report(rows, codes, np.zeros(n, bool) if not_object is None else not_object, extra, errors, loc)
        return None

    def _report(self, rows: list, codes: dict[int, np.ndarray], not_object: np.ndarray,
                extra: dict[int, list], errors: Errors, loc: Callable[[int], tuple]) -> None:
        """List the first errors, row by row, and count them all."""
        matrix = np.zeros((len(rows), len(self.features)), np.int8)
        for j, column in codes.items():
            matrix[:, j] = column
        matrix[not_object] = OK  # a row that is not an object gets that one error, as in pydantic
        total = int(np.count_nonzero(matrix)) + int(not_object.sum()) + sum(map(len, extra.values()))
        bad = matrix.any(axis=1) | not_object
        bad[list(extra)] = True
        start = errors.total
        for i in np.flatnonzero(bad).tolist():
            if errors.full:
                break
            self._row(rows[i], matrix[i], bool(not_object[i]), extra.get(i, ()), errors, loc(i))
        errors.count(total - (errors.total - start))

    def _row(self, row: Any, codes: np.ndarray, not_object: bool, extra, errors: Errors, loc: tuple) -> None:
        if not_object:
            errors.add("model_attributes_type", loc, NOT_AN_OBJECT, row)
            return
        for j in np.flatnonzero(codes).tolist():
            f = self.features[j]
            kind, msg, ctx = f.error(int(codes[j]))
            errors.add(kind, loc + (f.name,), msg, row if codes[j] == MISSING else row.get(f.name), ctx)
        for name in extra:
            errors.add("extra_forbidden", loc + (key(name),), "Extra inputs are not permitted", row[name])


def _check_number(f: Feature, col: list) -> tuple[np.ndarray, np.ndarray | None]:
    kinds = set(map(type, col))
    values = bad_type = None
    if kinds <= NUMBERS | {NONE}:
        try:
            values = np.array(col, dtype=np.float64)  # None -> NaN, the model's missing value
        except OverflowError:  # an integer past float range: pydantic's "not a valid number" too
            pass
    if values is None:
        values, bad_type = _floats(col)
    present = ~np.fromiter((v is None for v in col), bool, len(col)) if NONE in kinds else np.ones(len(col), bool)
    if bad_type is not None:
        present &= ~bad_type
    finite = np.isfinite(values)
    good = present & finite
    x = np.where(good, values, 0.0)  # the range rules look at good numbers only (no NaN warnings)
    rules = [(bad_type, FLOAT_TYPE), (present & ~finite, FINITE)]  # pydantic's order, first broken wins
    if f.lo is not None:
        rules.append((good & (x < f.lo), GE))
    if f.hi is not None:
        rules.append((good & (x > f.hi), LE))
    if f.whole:
        rules.append((good & (x != np.trunc(x)), WHOLE))
    if f.clock:  # schema._clock's rule, in float arithmetic as there: 0..2400, minutes below 60
        rules.append((good & ((x < 0) | (x > 2400) | (x - np.floor_divide(x, 100) * 100 >= 60)), CLOCK))
    return values, _first([(mask, code) for mask, code in rules if mask is not None])


def _floats(col: list) -> tuple[np.ndarray, np.ndarray]:
    """Values as floats (NaN where not a number) and where they are of the wrong type."""
    values, bad = np.full(len(col), np.nan), np.zeros(len(col), bool)
    for i, v in enumerate(col):
        if type(v) in NUMBERS:
            try:
                values[i] = v
            except OverflowError:
                bad[i] = True
        elif v is not None:
            bad[i] = True
    return values, bad


def _first(rules: list[tuple[np.ndarray, int]]) -> np.ndarray | None:
    """Per value, the code of the first rule it breaks; ``None`` when it breaks none."""
    if not any(mask.any() for mask, _ in rules):
        return None
    return np.select([mask for mask, _ in rules], [code for _, code in rules], OK).astype(np.int8)


def _check_text(f: Feature, col: list) -> tuple[list, np.ndarray | None]:
    if set(map(type, col)) <= STRINGS | {NONE}:
        return col, None
    return col, _codes(STRING_TYPE if type(v) is not str and v is not None else OK for v in col)


def _check_choice(f: Feature, col: list) -> tuple[list, np.ndarray | None]:
    allowed = frozenset(f.allowed)
    if set(map(type, col)) <= STRINGS | {NONE} and set(col) - {None} <= allowed:
        return col, None
    return col, _codes(LITERAL if v is not None and (type(v) is not str or v not in allowed) else OK for v in col)


def _check_code(f: Feature, col: list) -> tuple[list, np.ndarray | None]:
    kinds = set(map(type, col))
    if kinds <= INTS | {NONE}:
        ints = [v for v in col if v is not None] if NONE in kinds else col
        if not ints or ((f.lo is None or min(ints) >= f.lo) and (f.hi is None or max(ints) <= f.hi)):
            return col, None
    return col, _codes(_code_error(f, v) for v in col)


def _code_error(f: Feature, v: Any) -> int:
    if v is None:
        return OK
    if type(v) is not int:
        return INT_TYPE
    return GE if f.lo is not None and v < f.lo else LE if f.hi is not None and v > f.hi else OK


def _nulls(f: Feature, col: list, rows: list[dict], codes: np.ndarray | None) -> np.ndarray:
    """A non-nullable feature's ``null`` is a type error; its absence, "Field required"."""
    codes = np.zeros(len(col), np.int8) if codes is None else codes
    for i, v in enumerate(col):
        if v is None:
            codes[i] = f.type_error if f.name in rows[i] else MISSING
    return codes


def _codes(values) -> np.ndarray | None:
    codes = np.fromiter(values, np.int8)
    return codes if codes.any() else None


def _check_temporal(f: Feature, col: list) -> tuple[Any, np.ndarray | None]:
    """Dates and timestamps: strings, matching the ISO pattern, of a real calendar day. A date column
    comes back as days since 1970-01-01; a timestamp column as its texts (made instants once valid)."""
    pattern = _DATE if f.kind == "date" else _TIMESTAMP
    if set(map(type, col)) <= STRINGS | {NONE}:  # hashable: each distinct text is judged once
        seen = {v: _temporal(pattern, v) for v in set(col)}
        verdicts = list(map(seen.__getitem__, col))
    else:
        verdicts = [_temporal(pattern, v) for v in col]
    codes, days = zip(*verdicts) if verdicts else ((), ())
    codes = np.array(codes, np.int8)
    return (np.array(days, np.float64) if f.kind == "date" else col), (codes if codes.any() else None)


def _temporal(pattern: re.Pattern, v: Any) -> tuple[int, float]:
    """(error code, days since 1970-01-01 or NaN) of one date or timestamp value."""
    if v is None:
        return OK, np.nan
    if type(v) is not str:
        return STRING_TYPE, np.nan
    if not pattern.match(v):
        return PATTERN, np.nan
    number = day_number(v[:10])
    if number is None or not 1 <= int(v[:4]) <= 9999:
        return REAL_DAY, np.nan
    return OK, number


_DATE, _TIMESTAMP = re.compile(DATE_PATTERN), re.compile(TIMESTAMP_PATTERN)


def _float(bound) -> float | None:
    return None if bound is None else float(bound)


def _expected(allowed: tuple) -> str:
    """pydantic's list of a Literal's values: ``'a', 'b' or 'c'`` (Python reprs)."""
    texts = [repr(v) for v in allowed]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


_CHECKS = {"number": _check_number, "code": _check_code, "text": _check_text, "choice": _check_choice,
           "date": _check_temporal, "timestamp": _check_temporal}
