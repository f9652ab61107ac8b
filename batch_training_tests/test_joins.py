"""Point-in-time joins in the core: the latest joined row at or before each event, within the
tolerance, never one from the future; unmatched rows kept (with missing values) and counted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from batch_training.features.dataset import JoinedDays, build_training_data
from batch_training.features.join import as_of_join
from batch_training.features.window import window_for
from batch_training.spec import JoinSpec, parse_spec

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _join(tolerance: int = 60) -> JoinSpec:
    return JoinSpec.model_validate({
        "source": {"table": "cal", "partition_column": "at"},
        "columns": {"at": {"type": "timestamp"}, "sensor": {"type": "string"}, "offset": {"type": "float"}},
        "keys": {"sensor": "sensor"}, "event_time": "read_at", "time": "at", "tolerance_minutes": tolerance})


def _main(*events: tuple[str | None, dt.datetime | None]) -> pa.Table:
    return pa.table({"sensor": pa.array([e[0] for e in events], pa.string()),
                     "read_at": pa.array([e[1] for e in events], TS)})


def _joined(*rows: tuple[dt.datetime, str, float | None]) -> pa.Table:
    return pa.table({"at": pa.array([r[0] for r in rows], TS), "sensor": [r[1] for r in rows],
                     "offset": pa.array([r[2] for r in rows], pa.float64())})


def _run(main: pa.Table, joined: pa.Table, tolerance: int = 60):
    table, stats = as_of_join(main, joined, "cal", _join(tolerance), ["offset"])
    return table.column("cal.offset").to_pylist(), stats


def test_a_row_one_second_after_the_event_never_leaks_in():
    offsets, stats = _run(_main(("s1", T0)), _joined((T0 + dt.timedelta(seconds=1), "s1", 9.0)))
    assert offsets == [None] and stats.unmatched == 1 and stats.matched == 0
    # one second before, or at the very instant: the latest such row is the one
    offsets, _ = _run(_main(("s1", T0)), _joined((T0 - dt.timedelta(seconds=1), "s1", 1.0),
                                                 (T0 + dt.timedelta(seconds=1), "s1", 9.0)))
    assert offsets == [1.0]
    offsets, _ = _run(_main(("s1", T0)), _joined((T0, "s1", 2.0), (T0 - dt.timedelta(minutes=5), "s1", 1.0)))
    assert offsets == [2.0]


def test_the_latest_row_before_each_event_wins_per_key():
    main = _main(("s1", T0), ("s2", T0), ("s1", T0 + dt.timedelta(minutes=30)))
    joined = _joined((T0 - dt.timedelta(minutes=20), "s1", 1.0), (T0 - dt.timedelta(minutes=10), "s1", 2.0),
                     (T0 - dt.timedelta(minutes=50), "s2", 5.0), (T0 + dt.timedelta(minutes=10), "s1", 3.0),
                     (T0 - dt.timedelta(minutes=1), "s3", 7.0))  # another key never matches
    offsets, stats = _run(main, joined)
    assert offsets == [2.0, 5.0, 3.0]
    assert stats.to_dict() == {"rows": 3, "matched": 3, "unmatched": 0, "too_old": 0}


@pytest.mark.parametrize("age_minutes, matched", [(0, True), (59, True), (60, True), (61, False), (600, False)])
def test_the_tolerance_is_respected_to_the_minute(age_minutes, matched):
    offsets, stats = _run(_main(("s1", T0)), _joined((T0 - dt.timedelta(minutes=age_minutes), "s1", 4.0)))
    assert offsets == ([4.0] if matched else [None])
    assert (stats.matched, stats.too_old) == ((1, 0) if matched else (0, 1))


def test_a_stale_latest_row_does_not_fall_back_to_nothing_else():
    """Too old is judged on the latest row: an even older one is no better and is not taken."""
    offsets, stats = _run(_main(("s1", T0)), _joined((T0 - dt.timedelta(hours=3), "s1", 1.0),
                                                     (T0 - dt.timedelta(hours=2), "s1", 2.0)))
    assert offsets == [None] and stats.too_old == 1


def test_unmatched_rows_are_kept_in_place_and_counted_by_cause():
    main = _main(("s1", T0), ("s9", T0), (None, T0), ("s1", None), ("s1", T0 - dt.timedelta(days=1)),
                 ("s1", T0 + dt.timedelta(hours=5)))
    joined = _joined((T0 - dt.timedelta(minutes=5), "s1", 1.0))
    table, stats = as_of_join(main, joined, "cal", _join(60), ["offset"])
    assert table.num_rows == main.num_rows
    assert table.column("sensor").to_pylist() == main.column("sensor").to_pylist()  # same rows, same order
    assert table.column("cal.offset").to_pylist() == [1.0, None, None, None, None, None]
    # no row with that key, a missing key, a missing event time, an event before every joined row:
    # unmatched; a match 5 h before: too old
    assert stats.to_dict() == {"rows": 6, "matched": 1, "unmatched": 4, "too_old": 1}


def test_a_matched_row_with_a_missing_value_is_a_match_with_a_missing_value():
    offsets, stats = _run(_main(("s1", T0)), _joined((T0 - dt.timedelta(minutes=1), "s1", None)))
    assert offsets == [None] and stats.matched == 1


def test_repeated_joined_rows_match_the_same_way_in_any_order():
    rows = [(T0 - dt.timedelta(minutes=5), "s1", 3.0), (T0 - dt.timedelta(minutes=5), "s1", 1.0),
            (T0 - dt.timedelta(minutes=5), "s1", None), (T0 - dt.timedelta(minutes=9), "s1", 8.0)]
    got = {tuple(_run(_main(("s1", T0)), _joined(*order))[0]) for order in (rows, rows[::-1], rows[1:] + rows[:1])}
    assert got == {(1.0,)}  # the first in the order of the values, whatever the scan order


def test_instants_compare_whatever_the_timezone_or_unit_of_either_side():
    main = pa.table({"sensor": ["s1"], "read_at": pa.array([T0], pa.timestamp("ns", tz="America/New_York"))})
    before = T0.astimezone(dt.timezone(dt.timedelta(hours=9))) - dt.timedelta(seconds=1)
    joined = pa.table({"at": pa.array([before, T0 + dt.timedelta(milliseconds=1)], pa.timestamp("ms", tz="Asia/Tokyo")),
                       "sensor": ["s1", "s1"], "offset": [1.0, 9.0]})
    table, stats = as_of_join(main, joined, "cal", _join(60), ["offset"])
    assert table.column("cal.offset").to_pylist() == [1.0] and stats.matched == 1


def test_many_keys_and_rows_agree_with_a_brute_force_join():
    rng = np.random.default_rng(3)
    base = int(T0.timestamp())
    n, m = 2000, 600
    main = _main(*[(f"s{rng.integers(0, 20)}", dt.datetime.fromtimestamp(base + int(rng.integers(0, 86400)), UTC))
                   for _ in range(n)])
    events = [(dt.datetime.fromtimestamp(base - 3600 + int(rng.integers(0, 90000)), UTC), f"s{rng.integers(0, 20)}",
               float(i)) for i in range(m)]
    offsets, stats = _run(main, _joined(*events), tolerance=90)
    want = []
    for sensor, at in zip(main.column("sensor").to_pylist(), main.column("read_at").to_pylist()):
        cands = [e for e in events if e[1] == sensor and e[0] <= at]
        best = max(cands, key=lambda e: (e[0], -e[2])) if cands else None
        want.append(best[2] if best and (at - best[0]) <= dt.timedelta(minutes=90) else None)
    assert offsets == want
    assert stats.matched == sum(v is not None for v in want)


SPEC = {
    "name": "pit", "source": {"table": "readings", "partition_column": "read_at", "timezone": "Europe/Berlin",
                              "first_day": "2024-03-01"},
    "columns": {"read_at": {"type": "timestamp"}, "sensor": {"type": "string"}, "value": {"type": "float"}},
    "joins": {"cal": {"source": {"table": "cal", "partition_column": "at"},
                      "columns": {"at": {"type": "timestamp"}, "sensor": {"type": "string"},
                                  "offset": {"type": "float"}},
                      "keys": {"sensor": "sensor"}, "event_time": "read_at", "time": "at", "tolerance_minutes": 120}},
    "features": {"numeric": ["cal.offset"], "categorical": ["sensor"]}, "target": "value", "task": "regression",
    "split": {"window_days": 4, "holdout_days": 1, "min_train_days": 1},
}


def test_the_window_reads_the_joined_days_before_it_within_the_tolerance():
    """A reading at 00:30 on the window's first day takes the calibration of 23:00 the day before
    (another day partition); the joined days read are the window's and the tolerance's margin."""
    spec = parse_spec(SPEC)
    berlin = dt.timezone(dt.timedelta(hours=1))
    day = {d: pa.table({"read_at": pa.array([dt.datetime(2024, 3, d, 0, 30, tzinfo=berlin)], TS), "sensor": ["s1"],
                        "value": [1.0]}) for d in range(1, 9)}
    cal = {d: _joined((dt.datetime(2024, 3, d, 23, 0, tzinfo=berlin).astimezone(UTC), "s1", float(d)))
           for d in range(1, 9)}
    read = []
    data = build_training_data(spec, window_for(dt.date(2024, 3, 7), spec.split, spec.source.first_day),
                               lambda d: day[d.day], lambda d: d.isoformat(),
                               JoinedDays(lambda j, d: read.append(d) or cal[d.day], lambda j, d: d.isoformat()))
    assert [d.day for d in read] == [2, 3, 4, 5, 6]  # window 3..6 and one day before it
    assert data.train.column("cal.offset").to_pylist() == [2.0, 3.0, 4.0]  # each from 23:00 the day before
    assert data.holdout.column("cal.offset").to_pylist() == [5.0]
    assert data.joins["train"]["cal"] == {"rows": 3, "matched": 3, "unmatched": 0, "too_old": 0}
