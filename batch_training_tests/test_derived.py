"""Derived features: each operation of the closed vocabulary on its edge values (midnight, the
timezone's day boundary, both DST changes, missing values, division by zero), computed by the one
implementation training and the server share; and the spec refusing what is not in the vocabulary."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from batch_training.features.derive import add_derived
from batch_training.serving.server.derive import derive
from batch_training.spec import SpecError, parse_spec

NAN = math.nan
UTC = dt.timezone.utc
TZ = "Europe/Berlin"


def _spec(derived: dict, columns: dict | None = None, features: dict | None = None):
    cols = {"day": {"type": "date"}, "at": {"type": "timestamp"}, "dep": {"type": "integer", "clock": True},
            "arr": {"type": "integer", "clock": True, "nullable": True}, "x": {"type": "float", "nullable": True},
            "y": {"type": "float", "nullable": True}, "name": {"type": "string"}, **(columns or {})}
    return parse_spec({"name": "d", "source": {"table": "t", "partition_column": "day", "timezone": TZ,
                                                   "first_day": "2024-01-01"},
                       "columns": cols, "derived": derived,
                       "features": features or {"numeric": [n for n in derived], "categorical": []},
                       "target": "y", "task": "regression",
                       "split": {"window_days": 3, "holdout_days": 1, "min_train_days": 1}})


def _one(recipe: dict, values: dict[str, list], kinds: dict[str, str]) -> list[float]:
    out = derive({"out": recipe}, {k: np.array(v, dtype=np.float64) for k, v in values.items()}, kinds, TZ)["out"]
    return [None if math.isnan(v) else v for v in out.tolist()]


def _us(*stamps: str) -> list[float]:
    return [dt.datetime.fromisoformat(s).timestamp() * 1e6 for s in stamps]


def test_clock_minutes_and_differences_across_midnight():
    clocks = [0, 1, 59, 100, 1230, 2359, 2400, NAN]
    assert _one({"op": "clock_minutes", "of": "c"}, {"c": clocks}, {"c": "clock"}) == [
        0, 1, 59, 60, 750, 1439, 1440, None]
    later, earlier = [105, 2359, 1200, 0, 830, NAN], [2350, 0, 1200, 2359, NAN, 100]
    assert _one({"op": "clock_difference", "of": ["a", "b"]}, {"a": later, "b": earlier}, {"a": "clock", "b": "clock"}) == [
        75, 1439, 0, 1, None, None]  # 23:50 -> 01:05 is 75 minutes, not -1365


def test_hour_of_a_clock_and_of_an_instant_in_local_time_across_both_dst_changes():
    assert _one({"op": "hour", "of": "c"}, {"c": [0, 59, 100, 2359, 2400, NAN]}, {"c": "clock"}) == [0, 0, 1, 23, 0, None]
    # Berlin springs forward at 01:00Z on 2024-03-31 (02:00 -> 03:00) and falls back at 01:00Z on 10-27
    at = _us("2024-03-31T00:59:59+00:00", "2024-03-31T01:00:00+00:00", "2024-10-27T00:30:00+00:00",
             "2024-10-27T01:30:00+00:00", "2024-12-31T23:30:00+00:00")
    assert _one({"op": "hour", "of": "t"}, {"t": at}, {"t": "timestamp"}) == [1, 3, 2, 2, 0]


def test_day_of_week_and_month_on_the_local_day_not_the_utc_day():
    # 23:30Z on Sunday 2024-03-10 is 00:30 on Monday in Berlin; 23:30Z on 2024-12-31 is January there
    at = _us("2024-03-10T23:30:00+00:00", "2024-03-10T22:30:00+00:00", "2024-12-31T23:30:00+00:00")
    assert _one({"op": "day_of_week", "of": "t"}, {"t": at + [NAN]}, {"t": "timestamp"}) == [0, 6, 2, None]
    assert _one({"op": "month", "of": "t"}, {"t": at}, {"t": "timestamp"}) == [3, 3, 1]
    days = [(dt.date(y, m, d) - dt.date(1970, 1, 1)).days for y, m, d in [(1970, 1, 1), (2024, 2, 29), (1969, 12, 31)]]
    assert _one({"op": "day_of_week", "of": "d"}, {"d": days}, {"d": "date"}) == [3, 3, 2]  # Thu, Thu, Wed
    assert _one({"op": "month", "of": "d"}, {"d": days}, {"d": "date"}) == [1, 2, 12]


def test_timestamp_of_reads_a_missing_or_repeated_wall_time_by_the_offset_before_it():
    days = [(dt.date(2024, m, d) - dt.date(1970, 1, 1)).days for m, d in [(3, 31), (10, 27), (6, 1)]]
    got = _one({"op": "timestamp_of", "date": "d", "clock": "c"}, {"d": days + [NAN], "c": [230, 230, 1200, 1200]},
               {"d": "date", "c": "clock"})
    want = _us("2024-03-31T02:30:00+01:00",   # does not exist: read with CET, the offset before
               "2024-10-27T02:30:00+02:00",   # exists twice: the first (CEST)
               "2024-06-01T12:00:00+02:00")
    assert got == want + [None]


def test_arithmetic_ops_keep_missing_values_missing_and_never_make_an_infinity():
    a, b = [10, -3, 5, NAN, 1e308, 0], [4, 2, 0, 1, 1e-308, 0]
    kinds = {"a": "number", "b": "number"}
    assert _one({"op": "difference", "of": ["a", "b"]}, {"a": a, "b": b}, kinds)[:4] == [6, -5, 5, None]
    assert _one({"op": "ratio", "of": ["a", "b"]}, {"a": a, "b": b}, kinds) == [2.5, -1.5, None, None, None, None]
    assert _one({"op": "log1p", "of": "a"}, {"a": [0, math.e - 1, -0.5, NAN]}, {"a": "number"}) == [0, 1, None, None]
    assert _one({"op": "clip", "of": "a", "min": -1, "max": None}, {"a": [-5, 3, NAN]}, {"a": "number"}) == [-1, 3, None]
    assert _one({"op": "clip", "of": "a", "min": None, "max": 2}, {"a": [-5, 3]}, {"a": "number"}) == [-5, 2]


def test_training_derives_through_arrow_as_the_server_does_from_request_fields():
    """``add_derived`` (training, Arrow columns) is the server's function on the same values, chained
    (a derived input of a derived feature) and as text where the feature is a category."""
    spec = _spec({"dep_min": {"op": "clock_minutes", "of": "dep"},
                  "block": {"op": "clock_difference", "of": ["arr", "dep"]},
                  "speed": {"op": "ratio", "of": ["x", "block"]},
                  "local_hour": {"op": "hour", "of": "at"},
                  "weekday": {"op": "day_of_week", "of": "day"}},
                 features={"numeric": ["dep_min", "block", "speed"], "categorical": ["local_hour", "weekday"]})
    table = pa.table({"day": pa.array([dt.date(2024, 3, 31), dt.date(2024, 3, 30), None]),
                      "at": pa.array([dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC), None, dt.datetime(2024, 1, 1, tzinfo=UTC)],
                                     pa.timestamp("us", tz="UTC")),
                      "dep": pa.array([2350, 600, 0], pa.int64()), "arr": pa.array([105, None, 0], pa.int64()),
                      "x": [150.0, 1.0, 10.0], "y": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]})
    out = add_derived(table, spec, after_joins=False)
    assert out.column("dep_min").to_pylist() == [1430, 360, 0]
    assert out.column("block").to_pylist() == [75, None, 0]
    assert out.column("speed").to_pylist() == [2.0, None, None]  # 150 / 75; missing block; 10 / 0
    assert out.column("local_hour").to_pylist() == ["3", None, "1"]  # categories as text, "3" not "3.0"
    assert out.column("weekday").to_pylist() == ["6", "5", None]
    assert add_derived(out, spec, after_joins=False).equals(out)  # computed once


def test_an_unused_recipe_reads_nothing():
    spec = _spec({"used": {"op": "clock_minutes", "of": "dep"}, "unused": {"op": "log1p", "of": "x"}},
                 features={"numeric": ["used"], "categorical": []})
    out = add_derived(pa.table({"dep": pa.array([130], pa.int64())}), spec, after_joins=False)
    assert out.column_names == ["dep", "used"]


@pytest.mark.parametrize("derived, message", [
    ({"h": {"op": "eval", "of": "x"}}, "op"),                                   # not in the vocabulary
    ({"h": {"op": "log1p", "of": "x * 2"}}, "no such column"),                  # an expression is not a column
    ({"h": {"op": "log1p", "of": "__import__('os')"}}, "no such column"),
    ({"h": {"op": "hour", "of": "name"}}, "needs timestamp or clock"),          # the wrong kind of input
    ({"h": {"op": "clock_minutes", "of": "x"}}, "needs clock"),
    ({"h": {"op": "day_of_week", "of": "dep"}}, "needs date or timestamp"),
    ({"h": {"op": "difference", "of": ["x"]}}, "of"),                           # two inputs
    ({"h": {"op": "clip", "of": "x"}}, "min, max or both"),
    ({"h": {"op": "clip", "of": "x", "min": 2, "max": 1}}, "above its max"),
    ({"a": {"op": "log1p", "of": "b"}, "b": {"op": "log1p", "of": "x"}}, "declare it first"),
    ({"x": {"op": "log1p", "of": "y"}}, "name of a column"),
    ({"h": {"op": "log1p", "of": "x", "code": "print(1)"}}, "code"),            # no extra keys
])
def test_the_spec_refuses_what_the_vocabulary_does_not_hold(derived, message):
    with pytest.raises(SpecError, match=message):
        _spec(derived, features={"numeric": [], "categorical": ["name"]})
