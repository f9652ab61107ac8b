"""Classification in the evaluation core: label metrics at the threshold (hand-computed), the threshold
rule, the classifier's gate rules and the precision–recall plot."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batch_training.evaluation import (
    choose_threshold,
    classification_metrics,
    decide,
    metrics_for,
    pr_curve,
    precision_recall_png,
    render_markdown,
    slice_metrics,
)
from batch_training.spec.training import GateSpec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _binary(p1) -> np.ndarray:
    p1 = np.asarray(p1, dtype=float)
    return np.column_stack([1 - p1, p1])


# --- label metrics -----------------------------------------------------------------------------------

Y = np.array([1, 1, 0, 0, 1])
P1 = np.array([0.9, 0.4, 0.35, 0.6, 0.2])


@pytest.mark.parametrize("threshold, expected", [
    # labels [1, 1, 1, 1, 0]: TP 2, FP 2, FN 1 -> P 2/4, R 2/3, F1 4/(4 + 2 + 1); right: rows 0, 1
    (0.35, {"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7, "accuracy": 2 / 5, "predicted_classes": 2}),
    # labels [1, 0, 0, 1, 0]: TP 1, FP 1, FN 2 -> P 1/2, R 1/3, F1 2/(2 + 1 + 2); right: rows 0 and 2
    (0.5, {"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "accuracy": 2 / 5, "predicted_classes": 2}),
    # p >= t: the row at exactly 0.9 is positive -> TP 1, FP 0, FN 2 -> P 1, R 1/3, F1 2/(2 + 0 + 2)
    (0.9, {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "accuracy": 3 / 5, "predicted_classes": 2}),
    # nothing labelled positive: precision undefined counts 0 (scikit-learn's default), one class predicted
    (0.95, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 2 / 5, "predicted_classes": 1}),
])
def test_binary_label_metrics_at_the_threshold(threshold, expected):
    m = classification_metrics(Y, _binary(P1), threshold)
    assert {k: m[k] for k in expected} == pytest.approx(expected)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.65, 0.4, 0.2])))
    assert m["auc"] == pytest.approx(3 / 6)  # pairs (pos, neg) ranked right: (0.9, both), (0.4, 0.35)
    assert "macro_f1" not in m
    assert metrics_for("binary", Y, _binary(P1), threshold) == m


def test_binary_default_threshold_is_half_and_slices_use_the_given_one():
    assert metrics_for("binary", Y, _binary(P1))["f1"] == pytest.approx(0.4)
    s = slice_metrics("binary", Y, _binary(P1), np.array(["a", "a", "a", "b", "b"]), threshold=0.35)
    # a: labels [1, 1, 1], y [1, 1, 0] -> P 2/3, R 1; b: labels [1, 0], y [0, 1] -> TP 0
    assert (s["a"]["precision"], s["a"]["recall"], s["b"]["f1"]) == pytest.approx((2 / 3, 1.0, 0.0))


def test_multiclass_macro_f1_at_argmax():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    # argmax [0, 1, 2, 1]: F1 class 0 = 1, class 1 = 2/(2 + 1) (one FP), class 2 = 2/(2 + 1) (one FN)
    m = metrics_for("multiclass", y, proba)
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert m["predicted_classes"] == 3 and "f1" not in m and "precision" not in m
    # a class predicted but absent from y counts (F1 0); a class in neither is left out
    two = metrics_for("multiclass", np.array([0, 0]), np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]))
    assert two["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2) and two["predicted_classes"] == 2


def test_nan_probabilities_poison_the_label_metrics():
    m = classification_metrics(Y, _binary([0.9, np.nan, 0.1, 0.2, 0.3]), 0.5)
    assert all(math.isnan(m[k]) for k in ("accuracy", "precision", "recall", "f1", "predicted_classes"))
    with pytest.raises(ValueError, match="binary probabilities"):
        classification_metrics(np.array([0]), np.array([[0.2, 0.3, 0.5]]), 0.5)


# --- the threshold rule ------------------------------------------------------------------------------

def test_threshold_maximises_f1():
    # t = 0.9: F1 2/3; 0.8: 1/2; 0.7: TP 2 FP 1 -> 4/5; 0.1: 4/6
    choice = choose_threshold(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    assert (choice.threshold, choice.f1, choice.rows, choice.positives) == (0.7, pytest.approx(0.8), 4, 2)


def test_threshold_ties_go_to_the_smallest():
    # t = 0.9: TP 1 FP 0 -> 2/3; 0.8: 1/2; 0.7: 2/5; 0.6: TP 2 FP 2 -> 4/6 = 2/3, the same F1: 0.6 wins
    choice = choose_threshold(np.array([1, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    assert choice.threshold == 0.6 and choice.f1 == pytest.approx(2 / 3)


def test_threshold_agrees_with_a_brute_force_search():
    rng = np.random.default_rng(4)
    for _ in range(20):
        y = rng.random(60) < 0.3
        score = np.round(rng.random(60), 1)  # many equal scores
        choice = choose_threshold(y, score)
        f1 = {t: classification_metrics(y.astype(int), _binary(score), t)["f1"] for t in np.unique(score)}
        best = max(f1.values())
        assert choice.f1 == best  # the same integer ratio: ties are exact
        assert choice.threshold == min(t for t, v in f1.items() if v == best)


def test_threshold_without_a_positive_falls_back_to_half():
    choice = choose_threshold(np.array([0, 0]), np.array([0.3, 0.7]))
    assert (choice.threshold, choice.f1) == (0.5, None) and "no positive row" in choice.rule
    assert choose_threshold(np.array([1, 0]), np.array([np.nan, 0.2])).threshold == 0.5


def test_pr_curve_groups_equal_scores():
    curve = pr_curve(np.array([1, 0, 1, 1]), np.array([0.8, 0.5, 0.5, 0.1]))
    assert curve.thresholds.tolist() == [0.8, 0.5, 0.1]
    assert curve.tp.tolist() == [1, 2, 3] and curve.fp.tolist() == [0, 1, 1]
    assert curve.precision.tolist() == pytest.approx([1.0, 2 / 3, 3 / 4])
    assert curve.recall.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


# --- the gate ----------------------------------------------------------------------------------------

GATE = GateSpec(min_improvement_over_naive=0.05, champion_tolerance=0.01, slice_tolerance=0.10, min_auc_margin=0.02)
CONSTANT = {"log_loss": 0.5, "auc": 0.5, "predicted_classes": 1, "n": 400}


def _decide(log_loss=0.40, auc=0.80, classes=2, task="binary", constant=CONSTANT, **kw):
    candidate = {"log_loss": log_loss, "auc": auc, "predicted_classes": classes, "n": 400}
    return decide(task=task, metric="log_loss", candidate=candidate, naive=None, constant=constant,
                  champion=kw.pop("champion", None), candidate_slices={}, reference_slices=None, gate=GATE,
                  slice_min_rows=100, **kw)


def _checks(d) -> dict[str, dict]:
    return {c["rule"]: c for c in d.checks}


def test_classifier_gate_passes_with_its_own_rules():
    d = _decide()
    assert d.passed and d.reasons == []
    assert list(_checks(d)) == ["not_degenerate", "beats_class_prior", "auc_above_chance",
                                "not_worse_than_champion", "slices"]  # no naive rule for a classifier
    assert _checks(d)["beats_class_prior"]["detail"] == "candidate log_loss 0.4 <= limit 0.475 (class prior 0.5 x 0.95)"
    assert _checks(d)["auc_above_chance"]["detail"] == "candidate AUC 0.8 >= 0.52 (0.5 + min_auc_margin 0.02)"
    assert _checks(d)["not_degenerate"]["detail"] == \
        "the candidate's labels take 2 classes over the 400 holdout rows (at the decision threshold)"


@pytest.mark.parametrize("log_loss, passed", [(0.475, True), (0.4751, False), (0.5, False)])
def test_class_prior_rule_both_ways(log_loss, passed):
    d = _decide(log_loss=log_loss)  # limit 0.5 x (1 - 0.05) = 0.475
    assert d.passed is passed and _checks(d)["beats_class_prior"]["passed"] is passed
    assert _checks(d)["beats_class_prior"]["limit"] == pytest.approx(0.475)
    if not passed:
        assert d.reasons == [f"The candidate does not beat the class-prior baseline: candidate log_loss "
                             f"{log_loss:.4g} > limit 0.475 (class prior 0.5 x 0.95)."]


@pytest.mark.parametrize("auc, passed", [(0.52, True), (0.5199, False), (0.5, False), (math.nan, False)])
def test_auc_margin_rule(auc, passed):
    d = _decide(auc=auc)
    assert d.passed is passed and _checks(d)["auc_above_chance"]["passed"] is passed
    if not passed:
        assert len(d.reasons) == 1
        assert d.reasons[0].startswith("The candidate does not rank the classes clearly better than chance: candidate AUC")


@pytest.mark.parametrize("task, where", [("binary", "at the decision threshold"), ("multiclass", "at argmax")])
def test_degenerate_classifier_is_rejected_even_with_good_metrics(task, where):
    d = _decide(classes=1, task=task, log_loss=0.1, auc=0.95)
    assert not d.passed and _checks(d)["not_degenerate"]["passed"] is False
    assert d.reasons == [f"The candidate is degenerate: it predicts one class for every holdout row: all 400 "
                         f"holdout rows get the same label ({where})."]
    assert not _decide(classes=math.nan).passed  # NaN probabilities: no usable labels


def test_classifier_gate_needs_the_class_prior_and_keeps_the_champion_rule():
    with pytest.raises(ValueError, match="class-prior"):
        _decide(constant=None)
    d = _decide(log_loss=0.40, champion={"log_loss": 0.39})  # limit 0.3939
    assert not d.passed and [c["rule"] for c in d.checks if not c["passed"]] == ["not_worse_than_champion"]
    with pytest.raises(ValueError, match="unknown task"):
        _decide(task="ranking")


# --- report ------------------------------------------------------------------------------------------

def test_precision_recall_plot_is_a_small_png():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    for png in (precision_recall_png(y, _binary(p), 0.4, ["no", "yes"]),
                precision_recall_png(rng.integers(0, 3, 300), rng.dirichlet([1, 1, 1], 300), None, ["a", "b", "c"]),
                precision_recall_png(np.zeros(5, int), _binary(np.full(5, 0.3)), 0.5)):  # no positive: a note
        assert png.startswith(PNG_SIGNATURE) and len(png) < 100_000


def test_markdown_shows_the_decision_threshold_and_label_metrics():
    d = _decide()
    report = {"spec": "s", "metric": "log_loss", "task": "binary", "gate": d.to_dict(),
              "candidate": {"log_loss": 0.4, "auc": 0.8, "accuracy": 0.9, "precision": 0.75, "recall": 0.6,
                            "f1": 2 / 3, "predicted_classes": 2, "n": 400},
              "baselines": {"naive": None, "constant": {"log_loss": 0.5, "f1": 0.2, "n": 400}},
              "decision_threshold": {"positive_class": "alert", "candidate_threshold": 0.37, "constant_threshold": 0.12,
                                     "chosen_on": {"rows": 58, "positives": 6, "f1": 0.66, "rule": "the rule"}}}
    md = render_markdown(report, {"precision_recall.png": "precision_recall.png"})
    assert "| f1 | 0.6667 | 0.2 |" in md and "| precision | 0.75 | – |" in md
    assert "A row is labelled `alert` when its probability is >= the model's threshold" in md
    assert "- candidate: 0.37" in md and "- constant: 0.12" in md
    assert "chosen on 58 validation rows of the training days (6 positive; F1 there 0.66): the rule" in md
    assert "![precision_recall.png](precision_recall.png)" in md
