"""The batch path's column-wise checks: the common batch (every row carries every field) goes down a
faster path than a batch with a gap; both must give pydantic's verdicts and the same columns."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from batch_training.serving.server.columns import Validator
from batch_training.serving.server.derive import category_text
from batch_training.serving.server.errors import Errors, echo
from batch_training.serving.server.preprocess import _positions
from batch_training.serving.server.schema import row_model

METADATA = {
    "features": {"numeric": ["x", "count", "clock", "free"], "categorical": ["code", "name", "pick"]},
    "inputs": {"numeric": ["x", "count", "clock", "free"], "categorical": ["code", "name", "pick"],
               "dates": ["day"], "timestamps": ["at"]},
    "contract": {
        "x": {"type": "float", "min": -1.5, "max": 1e20, "nullable": False},
        "count": {"type": "integer", "min": 1.0, "max": 6000.0, "nullable": False},
        "clock": {"type": "integer", "clock": True, "nullable": True},
        "code": {"type": "integer", "min": 1, "max": 9, "nullable": True},
        "name": {"type": "string", "nullable": False},
        "pick": {"type": "string", "allowed": ["b", "a'q", "c"], "nullable": False},
        "day": {"type": "date", "nullable": False},
        "at": {"type": "timestamp", "nullable": True},
    },
    "time": {"timezone": "America/New_York", "naive": "local"},
}
BASE = {"x": 0.5, "count": 3, "clock": 830, "free": 1.25, "code": 4, "name": "n", "pick": "b",
        "day": "2024-02-29", "at": "2024-03-10T01:30:00"}
VALUES = [None, 0, 1, 10, 0.5, -0.0, 60, 2359, 2401, 1e20, 1.5e20, -1.6, 10 ** 400, float("nan"), float("inf"),
          True, False, "1", "", "b", "a'q", "B", [], [1], {}, {"a": 1},
          "2024-02-29", "2023-02-29", "0000-01-01", "2024-1-01", "2024-01-01T10:00:00", "2024-03-10T02:30:00",
          "2024-11-03 01:30:00.5+05:30", "2024-01-01T24:00:00Z", "2024-01-01T10:00:00Z", 20240101, ["2024-01-01"]]


def _pydantic_errors(rows: list) -> list[dict]:
    from fastapi.encoders import jsonable_encoder
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(list[row_model(METADATA)]).validate_python(rows, from_attributes=True)
        return []
    except ValidationError as exc:
        return [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"], "input": echo(e["input"]),
                 **({"ctx": jsonable_encoder(e["ctx"])} if "ctx" in e else {})} for e in exc.errors()]


def _full_rows() -> list[dict]:
    """Every field in every row (the fast path), each value of ``VALUES`` in each field, unknown fields too."""
    rows = [{**BASE, name: v} for name in BASE for v in VALUES]
    return rows + [{**BASE, "extra": 1}, {**BASE, "zz": None, "x": "a"}, dict(BASE)]


def test_full_rows_get_pydantic_errors():
    rows = _full_rows()
    errors = Errors(limit=10 ** 6)
    assert Validator(METADATA).check(rows, errors, lambda i: (i,)) is None
    want = _pydantic_errors(rows)
    assert errors.entries == want and errors.total == len(want) > 150
    n = len(rows)  # unknown fields in rows that carry every feature are still found
    assert [(e["loc"], e["type"]) for e in errors.entries[-3:]] == [
        ([n - 3, "extra"], "extra_forbidden"), ([n - 2, "x"], "float_type"), ([n - 2, "zz"], "extra_forbidden")]


@pytest.mark.parametrize("gap", [False, True], ids=["every-field", "a-row-with-a-gap"])
def test_fast_and_per_field_paths_give_the_same_columns(gap):
    validator = Validator(METADATA)
    rows = [r for r in _full_rows() if validator.check([r], Errors(), lambda i: (i,)) is not None]
    assert len(rows) > 40
    if gap:  # a row without the nullable "free" sends the batch down the per-field path
        rows = rows + [{k: v for k, v in BASE.items() if k != "free"}]
    columns = validator.check(rows, Errors(), lambda i: (i,))
    one_by_one = [validator.check([r], Errors(), lambda i: (i,)) for r in rows]
    for name, values in columns.items():
        want = [c[name][0] for c in one_by_one]
        if isinstance(values, np.ndarray):
            assert np.array_equal(values, np.array(want, np.float64), equal_nan=True), name
        else:
            assert values == want, name
    days = [(dt.date.fromisoformat(r["day"]) - dt.date(1970, 1, 1)).days for r in rows]
    assert columns["day"].tolist() == days
    at = columns["at"][[r["at"] == "2024-01-01T10:00:00Z" for r in rows]]
    assert at.tolist() and set(at.tolist()) == {dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC).timestamp() * 1e6}
    if gap:
        assert math.isnan(columns["free"][-1])


def test_a_batch_of_no_rows_and_a_single_feature():
    columns = Validator(METADATA).check([], Errors(), lambda i: (i,))
    assert set(columns) == set(BASE) and all(len(v) == 0 for v in columns.values())
    one = {"features": {"numeric": ["x"], "categorical": []}, "contract": {"x": {"min": 0, "nullable": False}}}
    errors = Errors()
    assert Validator(one).check([{"x": 1}, {"x": 2.5}], errors, lambda i: (i,))["x"].tolist() == [1.0, 2.5]
    assert Validator(one).check([{"x": 1}, {"x": -1}, {"x": 1, "y": 2}], errors, lambda i: (i,)) is None
    assert [(e["loc"], e["type"]) for e in errors.entries] == [([1, "x"], "greater_than_equal"),
                                                               ([2, "y"], "extra_forbidden")]


def test_category_text_writes_each_value_as_before():
    values = np.array([3.0, -0.0, 0.0, 0.5, float("nan"), 1e20, float("inf"), -2.0, 3.0, float("nan"), 2.5e-7])
    before = [None if not math.isfinite(v) else (str(int(v)) if v == int(v) else repr(float(v)))
              for v in values.tolist()]
    assert category_text(values) == before  # a few values: one by one
    assert category_text(np.tile(values, 3)) == before * 3  # many: each distinct value once
    assert category_text(values) == ["3", "0", "0", "0.5", None, "100000000000000000000", None, "-2", "3", None,
                                     "2.5e-07"]
    assert category_text(np.array([])) == []


def test_vocabulary_positions():
    vocab = {"a": 1, "b": 2, "7": 3}
    assert _positions(["b", None, "a", "zz", "b"], vocab) == [2, 0, 1, 0, 2]
    assert _positions([7, None, "a", 8], vocab) == [3, 0, 1, 0]
    assert _positions([], vocab) == []
