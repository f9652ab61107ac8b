"""Evaluation core: metrics against hand-computed values, baselines, the gate's decision table and the
report files."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from batch_training.evaluation import (
    GateDecision,
    calibration_png,
    classification_metrics,
    constant_prediction,
    decide,
    error_by_slice_png,
    learning_curve_png,
    metrics_for,
    naive_rule_prediction,
    png_data_uri,
    predicted_vs_actual_png,
    primary_metric,
    rank_auc,
    regression_metrics,
    render_markdown,
    slice_metrics,
    write_report,
)
from batch_training.spec.training import GateSpec, NaiveRule

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- metrics -------------------------------------------------------------------------------------

def test_regression_metrics_hand_computed():
    m = regression_metrics(np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 2, 6]))
    # errors 1, 0, -1, 2: MAE 4/4; RMSE sqrt(6/4); R² = 1 - 6 / 5 (mean 2.5, ss_tot 5)
    assert m == pytest.approx({"mae": 1.0, "rmse": math.sqrt(1.5), "r2": -0.2, "n": 4})
    assert m["n"] == 4 and isinstance(m["n"], int)


def test_regression_nan_prediction_poisons_the_metric():
    assert math.isnan(regression_metrics(np.array([1.0, 2.0]), np.array([1.0, np.nan]))["mae"])


def test_classification_metrics_hand_computed():
    y = np.array([1, 0, 1])
    p1 = np.array([0.8, 0.4, 0.3])
    m = classification_metrics(y, np.column_stack([1 - p1, p1]))
    assert m["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.6) + math.log(0.3)) / 3)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["n"] == 3
    # positives score 0.8 and 0.3, the negative 0.4: one of two pairs ranked right
    assert m["auc"] == pytest.approx(0.5)


def test_log_loss_is_clipped():
    m = classification_metrics(np.array([1]), np.array([[1.0, 0.0]]))
    assert m["log_loss"] == pytest.approx(-math.log(1e-15))


@pytest.mark.parametrize(("y", "score", "expected"), [
    ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),        # perfect ranking
    ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),        # constant scores: all ties
    ([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9], 0.875),      # (1 + 0.5 + 1 + 1) / 4 pairs
    ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], 0.0),        # perfectly wrong
])
def test_rank_auc(y, score, expected):
    assert rank_auc(np.array(y), np.array(score)) == pytest.approx(expected)


def test_auc_is_nan_with_one_class():
    assert math.isnan(rank_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_multiclass_macro_auc_over_present_classes():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    # one-vs-rest: class 0 -> 1.0, class 1 -> 1.0, class 2 -> (1 + 1 + 1 + 0.5) / 4 = 0.875
    expected = (1.0 + 1.0 + 0.875) / 3
    assert classification_metrics(y, proba)["auc"] == pytest.approx(expected)
    # a fourth class no row belongs to is left out of the macro mean
    with_absent = np.column_stack([proba, np.zeros(4)])
    assert metrics_for("multiclass", y, with_absent)["auc"] == pytest.approx(expected)
    assert metrics_for("multiclass", y, proba)["accuracy"] == pytest.approx(3 / 4)


def test_labels_out_of_range_rejected():
    with pytest.raises(ValueError, match="labels must lie"):
        classification_metrics(np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]))


def test_primary_metric():
    assert primary_metric("regression") == "mae"
    assert primary_metric("binary") == primary_metric("multiclass") == "log_loss"
    with pytest.raises(ValueError):
        primary_metric("ranking")  # type: ignore[arg-type]


def test_slice_metrics_group_and_name_missing():
    y = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    pred = np.array([2.0, 2.0, 3.0, 10.0, 25.0])
    values = np.array(["JFK", "JFK", "JFK", None, "LGA"], dtype=object)
    s = slice_metrics("regression", y, pred, values)
    assert list(s) == ["JFK", "(missing)", "LGA"]  # largest first
    assert s["JFK"]["n"] == 3 and s["JFK"]["mae"] == pytest.approx(1 / 3)
    assert s["(missing)"] == pytest.approx({"mae": 0.0, "rmse": 0.0, "r2": 1.0, "n": 1})
    assert s["LGA"]["mae"] == pytest.approx(5.0)


def test_slice_metrics_classification():
    s = slice_metrics("binary", np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
                      np.array([1, 1, 2]))
    assert set(s) == {"1", "2"}
    assert s["1"]["accuracy"] == 1.0 and s["2"]["accuracy"] == 0.0 and s["2"]["n"] == 1


# --- baselines -----------------------------------------------------------------------------------

def test_naive_offset_fitted_on_train_and_applied():
    rule = NaiveRule(kind="feature_plus_offset", feature="dep_delay")
    train_x = np.array([0.0, 10.0, np.nan, 5.0])
    train_y = np.array([-5.0, 7.0, 100.0, np.nan])  # offsets -5 and -3 (rows with both finite)
    pred = naive_rule_prediction(rule, train_x, train_y, np.array([20.0, np.nan]))
    # NaN eval feature -> mean of the finite training target: (-5 + 7 + 100) / 3 = 34
    np.testing.assert_allclose(pred, [16.0, 34.0])


def test_naive_feature_as_is():
    rule = NaiveRule(kind="feature", feature="x")
    pred = naive_rule_prediction(rule, np.array([1.0, 2.0]), np.array([4.0, 6.0]), np.array([3.0, np.nan]))
    np.testing.assert_allclose(pred, [3.0, 5.0])


def test_naive_without_usable_training_rows_raises():
    rule = NaiveRule(feature="x")
    with pytest.raises(ValueError, match="no finite"):
        naive_rule_prediction(rule, np.array([np.nan]), np.array([1.0]), np.array([1.0]))


def test_constant_prediction():
    np.testing.assert_allclose(constant_prediction("regression", np.array([1.0, 2.0, 6.0, np.nan]), 2), [3.0, 3.0])
    priors = constant_prediction("binary", np.array([0, 1, 1, 1]), 3)
    assert priors.shape == (3, 2)
    np.testing.assert_allclose(priors[0], [2 / 6, 4 / 6])  # Laplace: (count + 1) / (4 + 2)
    np.testing.assert_allclose(priors.sum(axis=1), 1.0)
    multi = constant_prediction("multiclass", np.array([0, 2, 2]), 1, n_classes=4)
    np.testing.assert_allclose(multi, [[2 / 7, 1 / 7, 3 / 7, 1 / 7]])


# --- gate ----------------------------------------------------------------------------------------

GATE = GateSpec(min_improvement_over_naive=0.05, champion_tolerance=0.01, slice_tolerance=0.10)


def _decide(candidate=10.0, naive=11.0, champion=10.0, cand_slices=None, ref_slices=None, **kw) -> GateDecision:
    return decide(task="regression", metric="mae", candidate={"mae": candidate, "n": 1000},
                  naive=None if naive is None else {"mae": naive},
                  champion=None if champion is None else {"mae": champion},
                  candidate_slices=cand_slices or {}, reference_slices=ref_slices,
                  gate=GATE, slice_min_rows=100, **kw)


def _rules(d: GateDecision) -> dict[str, bool]:
    return {c["rule"]: c["passed"] for c in d.checks}


def test_gate_passes():
    d = _decide(candidate=10.0, naive=11.0, champion=10.05)  # 10 <= 10.45 and 10 <= 10.1505
    assert d.passed and not d.overridden and d.reasons == []
    assert _rules(d) == {"beats_naive": True, "not_worse_than_champion": True, "slices": True}


def test_gate_fails_on_naive_baseline():
    d = _decide(candidate=10.5, naive=11.0, champion=None)  # limit 11 * 0.95 = 10.45
    assert not d.passed
    assert _rules(d)["beats_naive"] is False and _rules(d)["not_worse_than_champion"] is True
    assert len(d.reasons) == 1 and "naive" in d.reasons[0] and "10.45" in d.reasons[0]


def test_gate_fails_on_champion():
    d = _decide(candidate=10.2, naive=None, champion=10.0)  # limit 10.1
    assert not d.passed
    assert _rules(d) == {"beats_naive": True, "not_worse_than_champion": False, "slices": True}
    assert "champion" in d.reasons[0]
    assert next(c for c in d.checks if c["rule"] == "beats_naive")["detail"] == "no naive baseline declared"


def test_gate_fails_on_big_slice_only():
    cand = {"origin": {"JFK": {"mae": 12.0, "n": 500}, "EWR": {"mae": 30.0, "n": 50}, "LGA": {"mae": 9.0, "n": 400}}}
    ref = {"origin": {"JFK": {"mae": 10.0, "n": 500}, "EWR": {"mae": 10.0, "n": 50}, "LGA": {"mae": 9.5, "n": 400}}}
    d = _decide(cand_slices=cand, ref_slices=ref)
    assert not d.passed
    failed = [c for c in d.checks if not c["passed"]]
    assert [(c["rule"], c["column"], c["value"]) for c in failed] == [("slices", "origin", "JFK")]
    assert len(d.reasons) == 1 and "origin=JFK" in d.reasons[0]
    assert any("EWR" in n for n in d.notes)  # the small slice is reported, never gated


def test_gate_small_worse_slice_does_not_fail():
    cand = {"origin": {"EWR": {"mae": 30.0, "n": 99}, "JFK": {"mae": 10.9, "n": 100}}}
    ref = {"origin": {"EWR": {"mae": 10.0, "n": 99}, "JFK": {"mae": 10.0, "n": 100}}}
    d = _decide(cand_slices=cand, ref_slices=ref)
    assert d.passed and _rules(d)["slices"] is True
    assert [c["rule"] for c in d.checks].count("slices") == 1


def test_gate_override_records_failures():
    d = _decide(candidate=10.5, naive=11.0, champion=None, override_reason="  approved by on-call after review ")
    assert d.passed and d.overridden
    assert d.override_reason == "approved by on-call after review"
    assert _rules(d)["beats_naive"] is False and len(d.reasons) == 1
    as_dict = d.to_dict()
    assert as_dict["overridden"] is True and as_dict["reasons"] == d.reasons


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_gate_nan_candidate_fails_even_without_references(bad):
    d = _decide(candidate=bad, naive=None, champion=None)
    assert not d.passed
    assert _rules(d)["beats_naive"] is False and _rules(d)["not_worse_than_champion"] is False
    d = _decide(candidate=bad, naive=11.0, champion=10.0)
    assert not d.passed and len(d.reasons) == 2


def test_gate_nan_slice_candidate_fails():
    d = _decide(cand_slices={"c": {"a": {"mae": math.nan, "n": 500}}}, ref_slices={"c": {"a": {"mae": 1.0, "n": 500}}})
    assert not d.passed and _rules(d)["slices"] is False


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_gate_blank_override_rejected(blank):
    with pytest.raises(ValueError, match="override_reason"):
        _decide(override_reason=blank)


# --- report --------------------------------------------------------------------------------------

def _check_png(png: bytes) -> None:
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) < 100_000


def test_plots_are_small_pngs():
    rng = np.random.default_rng(1)
    y = rng.normal(size=20_000)
    _check_png(learning_curve_png([{"epoch": e, "train_loss": 1 / e, "valid_loss": 1.2 / e} for e in (1, 2, 3)]))
    _check_png(learning_curve_png([]))
    _check_png(predicted_vs_actual_png(y, y + rng.normal(size=y.size)))
    p = rng.uniform(size=500)
    _check_png(calibration_png((rng.uniform(size=500) < p).astype(int), np.column_stack([1 - p, p])))
    proba = rng.dirichlet([1, 1, 1], size=300)
    _check_png(calibration_png(rng.integers(0, 3, size=300), proba))
    slices = {"carrier": {f"C{i}": {"mae": float(i), "n": 100 + i} for i in range(30)},
              "origin": {"JFK": {"mae": 3.0, "n": 10}}}
    _check_png(error_by_slice_png(slices, "mae", models={"naive": {"carrier": {"C1": {"mae": 2.0, "n": 101}}}}))
    _check_png(error_by_slice_png({}, "mae"))


def _report(gate: GateDecision) -> dict:
    return {
        "spec": "flights_delay", "as_of": "2013-12-01", "metric": "mae",
        "candidate": {"mae": 12.9, "rmse": 20.1, "r2": 0.8, "n": 1000},
        "baselines": {"naive": {"mae": 13.4, "rmse": 21.0, "r2": 0.78, "n": 1000},
                      "constant": {"mae": 30.0, "rmse": 40.0, "r2": 0.0, "n": 1000}},
        "champion": None,
        "slices": {"origin": {"JFK": {"mae": 12.0, "n": 600}, "a|b": {"mae": 14.0, "n": 400}}},
        "gate": gate.to_dict(),
        "data": {"train_days": 30, "holdout_days": 7},
    }


def test_render_markdown_shows_decision_reasons_and_images():
    gate = _decide(candidate=10.5, naive=11.0, champion=10.0)
    md = render_markdown(_report(gate), {"learning_curve": "learning_curve.png",
                                         "calibration": png_data_uri(b"\x89PNG")})
    assert "Decision: FAILED" in md
    assert len(gate.reasons) == 2 and all(r in md for r in gate.reasons)
    assert "![learning_curve](learning_curve.png)" in md
    assert "![calibration](data:image/png;base64,iVBORw==)" in md
    assert "| mae | 12.9 | 13.4 | 30 |" in md  # candidate vs naive vs constant
    assert "| a\\|b | 400 | 14 |" in md  # a pipe in a slice value does not break the table
    passed = render_markdown(_report(_decide()), {})
    assert "Decision: PASSED" in passed and "Failed rules" not in passed
    overridden = render_markdown(_report(_decide(candidate=10.5, override_reason="hotfix")), {})
    assert "OVERRIDE" in overridden and "hotfix" in overridden


def test_write_report_files(tmp_path):
    report = _report(_decide(candidate=10.5))
    png = learning_curve_png([{"epoch": 1, "train_loss": 1.0, "valid_loss": 1.1}])
    paths = write_report(tmp_path / "out", report, {"learning_curve": png})
    assert set(paths) == {"report.json", "report.md", "learning_curve.png"}
    assert json.loads(paths["report.json"].read_text()) == report
    assert paths["learning_curve.png"].read_bytes() == png
    md = paths["report.md"].read_text()
    assert "![learning_curve](learning_curve.png)" in md and "Decision: FAILED" in md
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["learning_curve.png", "report.json", "report.md"]
    with pytest.raises(ValueError, match="plain file name"):
        write_report(tmp_path / "out", report, {"../escape": png})


def test_write_report_json_is_strict(tmp_path):
    report = {"metric": "mae", "candidate": {"mae": np.float32(1.5), "r2": math.nan, "n": np.int64(3)}}
    paths = write_report(tmp_path, report, {})
    assert json.loads(paths["report.json"].read_text())["candidate"] == {"mae": 1.5, "r2": None, "n": 3}


def test_evaluation_never_imports_dagster_or_torch():
    code = ("import sys, batch_training.evaluation as e; e.learning_curve_png([]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'torch') or m == 'matplotlib.pyplot']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
