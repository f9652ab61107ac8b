"""Monitoring core: reference profiles, drift of a day (PSI, unseen categories, missing rate), the
live-error streak rule, and the spec's monitoring section."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from batch_training.monitoring import (
    EPSILON,
    ReferenceProfile,
    build_profile,
    drift,
    live_performance,
    load_profile,
    psi,
    save_profile,
)
from batch_training.spec import SpecError, builtin_spec_dir, load_specs, parse_spec
from batch_training.spec.tables import MonitoringSpec

DEFAULTS = MonitoringSpec()


def _flagship_data() -> dict:
    return yaml.safe_load((builtin_spec_dir() / "flights_delay.yaml").read_text(encoding="utf-8"))


def _reference() -> pa.Table:
    """100 rows: x = 0..99 (ten rows per decile), c = 60 A and 40 B."""
    return pa.table({"x": pa.array(np.arange(100, dtype=np.float64)), "c": ["A"] * 60 + ["B"] * 40})


def _profile():
    return build_profile(_reference(), ["x"], ["c"], bins=10)


# --- profile ---------------------------------------------------------------------------------------

def test_profile_has_decile_edges_and_category_counts():
    p = _profile()
    x, c = p.numeric[0], p.categorical[0]
    assert x.edges == pytest.approx([9.9 * i for i in range(1, 10)])
    assert x.counts == [10] * 10 and x.shares == pytest.approx([0.1] * 10)
    assert (x.rows, x.missing, x.missing_rate) == (100, 0, 0.0)
    assert c.counts == {"A": 60, "B": 40} and (c.other, c.others) == (0, [])
    assert c.shares == pytest.approx([0.6, 0.4, 0.0])


def test_rare_categories_are_pooled_but_still_known():
    table = pa.table({"c": ["A"] * 5 + ["B"] * 3 + ["C", "D"]})
    c = build_profile(table, [], ["c"], top_categories=2).categorical[0]
    assert c.counts == {"A": 5, "B": 3} and (c.other, c.others) == (2, ["C", "D"])
    day = pa.table({"c": ["C", "E", "A", "A"]})
    f = drift(build_profile(table, [], ["c"], top_categories=2), day, DEFAULTS).features[0]
    assert f.unseen_share == 0.25  # E only: C was seen in training, in the pooled rest


def test_constant_numeric_feature_has_a_single_edge():
    p = build_profile(pa.table({"x": [5.0] * 20}), ["x"], [])
    assert p.numeric[0].edges == [5.0] and p.numeric[0].counts == [20, 0]
    same = drift(p, pa.table({"x": [5.0] * 7}), DEFAULTS).features[0]
    assert same.psi == pytest.approx(0.0) and same.level == "OK"
    moved = drift(p, pa.table({"x": [6.0] * 7}), DEFAULTS).features[0]
    assert moved.psi == pytest.approx(2 * (1 - EPSILON) * math.log(1 / EPSILON))  # shares [1, 0] -> [0, 1]
    assert moved.level == "ERROR"


def test_nan_none_and_inf_count_as_missing_in_numeric():
    table = pa.table({"x": pa.array([1.0, None, float("nan"), float("inf"), 2.0, 3.0])})
    x = build_profile(table, ["x"], [], bins=2).numeric[0]
    assert (x.rows, x.missing) == (6, 3) and x.missing_rate == 0.5
    assert x.edges == [2.0] and x.counts == [2, 1]
    frame = pd.DataFrame({"x": [1.0, np.nan, None, 2.0], "c": ["A", None, np.nan, "B"]})
    p = build_profile(frame, ["x"], ["c"])
    assert (p.numeric[0].missing, p.categorical[0].missing, p.categorical[0].counts) == (2, 2, {"A": 1, "B": 1})


def test_profile_json_round_trip(tmp_path):
    p = build_profile(pa.table({"x": [0.1, 0.2, None, 0.7], "c": ["b", "a", "a", None]}), ["x"], ["c"], bins=3)
    path = save_profile(p, tmp_path / "model")
    assert path.name == "reference_profile.json" and [f.name for f in path.parent.iterdir()] == [path.name]
    assert load_profile(tmp_path / "model") == p
    assert ReferenceProfile.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert list(load_profile(tmp_path / "model").categorical[0].counts) == ["a", "b"]  # most frequent first
    with pytest.raises(ValueError, match="not a batch_training reference profile"):
        ReferenceProfile.from_dict({**p.to_dict(), "format": "other"})


# --- drift -----------------------------------------------------------------------------------------

def test_identical_distribution_has_psi_zero_and_is_ok():
    report = drift(_profile(), _reference(), DEFAULTS)
    assert report.level == "OK" and report.rows == 100 and report.reasons == []
    for f in report.features:
        assert f.psi == pytest.approx(0.0, abs=1e-12)
        assert f.missing_increase == 0.0
    assert report.feature("c").unseen_share == 0.0


def test_shifted_numeric_distribution_psi_by_hand():
    day = pa.table({"x": [0.0] * 50 + [99.0] * 50, "c": ["A"] * 30 + ["B"] * 70})
    report = drift(_profile(), day, DEFAULTS)
    # x: half the rows in the first decile bin, half in the last, none in the 8 between
    by_hand = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    assert report.feature("x").psi == pytest.approx(by_hand)
    assert by_hand == pytest.approx(6.8082, abs=1e-4)
    # c: A 0.6 -> 0.3, B 0.4 -> 0.7; the pooled-rest bin is empty on both sides (floored alike: 0)
    c = (0.3 - 0.6) * math.log(0.3 / 0.6) + (0.7 - 0.4) * math.log(0.7 / 0.4)
    assert report.feature("c").psi == pytest.approx(c)
    assert report.level == "ERROR" and [f.name for f in report.top()] == ["x", "c"]
    assert report.to_dict()["top"] == ["x", "c"]
    json.dumps(report.to_dict())


def test_psi_function_is_symmetric_in_its_terms():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.2, 0.8], [0.5, 0.5]) == pytest.approx(psi([0.5, 0.5], [0.2, 0.8]))


def test_all_new_category_is_unseen_share_one():
    day = pa.table({"x": np.arange(0, 100, 10, dtype=np.float64), "c": ["Z"] * 10})
    f = drift(_profile(), day, DEFAULTS).feature("c")
    assert f.unseen_share == 1.0 and f.level == "ERROR"
    assert any("unseen share 1.0000 above 0.05" in r for r in f.reasons)


def test_missing_rate_increase():
    day = pa.table({"x": pa.array([1.0, None, None, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]), "c": ["A"] * 10})
    no_psi = {"psi_warn": 100.0, "psi_error": 100.0}  # judge the missing rate alone
    f = drift(_profile(), day, MonitoringSpec(**no_psi)).feature("x")
    assert (f.missing_rate, f.reference_missing_rate, f.missing_increase) == (0.2, 0.0, 0.2)
    assert f.level == "WARN"  # 0.2 is above missing_warn 0.05, not above missing_error 0.2
    assert f.reasons == ["x: missing rate increase 0.2000 above 0.05"]
    worse = drift(_profile(), day, MonitoringSpec(**no_psi, missing_error=0.1)).feature("x")
    assert worse.level == "ERROR"


def test_empty_day_is_reported_not_judged():
    report = drift(_profile(), _reference().slice(0, 0), DEFAULTS)
    assert (report.rows, report.level, report.reasons) == (0, "WARN", ["no rows: drift not measured"])
    assert all(f.psi is None and f.missing_rate is None and f.rows == 0 for f in report.features)
    assert report.top() == [] and report.to_dict()["top"] == []


def test_day_with_only_missing_values_has_no_psi_but_a_missing_error():
    day = pa.table({"x": pa.array([None, None], pa.float64()), "c": pa.array([None, None], pa.string())})
    report = drift(_profile(), day, DEFAULTS)
    assert [(f.psi, f.missing_rate, f.level) for f in report.features] == [(None, 1.0, "ERROR")] * 2


def test_missing_feature_column_is_a_clear_error():
    with pytest.raises(KeyError, match="feature 'c' is not a column"):
        drift(_profile(), pa.table({"x": [1.0]}), DEFAULTS)


# --- live performance ------------------------------------------------------------------------------

def test_live_error_warns_after_consecutive_bad_days():
    d = dt.date(2014, 1, 1)
    rows = [(d + dt.timedelta(days=i), live, 10.0) for i, live in enumerate([13.0, 13.0, 12.0, 13.0, 13.0, 13.0])]
    days = live_performance(reversed(rows), ratio_warn=1.25, warn_days=3)
    assert [x.day for x in days] == [r[0] for r in rows]
    assert [x.ratio for x in days] == pytest.approx([1.3, 1.3, 1.2, 1.3, 1.3, 1.3])
    assert [x.bad for x in days] == [True, True, False, True, True, True]
    assert [x.streak for x in days] == [1, 2, 0, 1, 2, 3]
    assert [x.warn for x in days] == [False] * 5 + [True]


def test_live_gap_or_unknown_day_breaks_the_streak():
    d = dt.date(2014, 1, 1)
    gap = live_performance([(d, 20.0, 10.0), (d + dt.timedelta(days=2), 20.0, 10.0)], 1.25, 2)
    assert [x.streak for x in gap] == [1, 1] and not any(x.warn for x in gap)
    unknown = live_performance([(d, 20.0, 10.0), (d + dt.timedelta(days=1), None, 10.0)], 1.25, 1)
    assert [(x.ratio, x.warn) for x in unknown] == [(2.0, True), (None, False)]
    with pytest.raises(ValueError, match="offline error must be positive"):
        live_performance([(d, 1.0, 0.0)], 1.25, 3)
    with pytest.raises(ValueError, match="appears more than once"):
        live_performance([(d, 1.0, 1.0), (d, 1.0, 1.0)], 1.25, 3)


# --- spec ------------------------------------------------------------------------------------------

def test_shipped_specs_load_with_monitoring_defaults():
    for spec in load_specs():  # the defaults, but for the features a spec names as not judged
        assert spec.monitoring.model_copy(update={"not_judged": []}) == MonitoringSpec()
        assert set(spec.monitoring.not_judged) <= set(spec.features.numeric) | set(spec.features.categorical)
    m = MonitoringSpec()
    assert (m.psi_warn, m.psi_error, m.live_error_ratio_warn, m.live_warn_days, m.retrain_on_drift_error) == (
        0.1, 0.25, 1.25, 3, False)


def test_monitoring_section_is_read_from_the_spec():
    spec = parse_spec({**_flagship_data(), "monitoring": {"psi_warn": 0.2, "live_warn_days": 5}})
    assert (spec.monitoring.psi_warn, spec.monitoring.psi_error, spec.monitoring.live_warn_days) == (0.2, 0.25, 5)


@pytest.mark.parametrize("section, reason", [
    ({"psi_warn": 0.3}, "monitoring.psi_warn: psi_warn (0.3) is above psi_error (0.25)"),
    ({"unseen_warn": 0.5, "unseen_error": 0.1}, "monitoring.unseen_warn: unseen_warn (0.5) is above unseen_error"),
    ({"missing_warn": -0.1}, "monitoring.missing_warn: Input should be greater than or equal to 0"),
    ({"unseen_error": 1.5}, "monitoring.unseen_error: Input should be less than or equal to 1"),
    ({"live_warn_days": 0}, "monitoring.live_warn_days: Input should be greater than or equal to 1"),
    ({"psi_wran": 0.1}, "monitoring.psi_wran: Extra inputs are not permitted"),
])
def test_invalid_monitoring_thresholds_are_rejected(section, reason):
    with pytest.raises(SpecError) as info:
        parse_spec({**_flagship_data(), "monitoring": section}, "flights_delay.yaml")
    assert reason in str(info.value)


def test_monitoring_does_not_import_dagster():
    code = "import sys, batch_training.monitoring; print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_not_judged_names_a_feature():
    from batch_training_tests.support import flights

    data = flights.small_flights_data()
    data["monitoring"] = {"not_judged": ["weather.temp", "no_such_feature"]}
    with pytest.raises(ValueError, match="no_such_feature.*is not one of the features"):
        parse_spec(data, "test")
